"""The click commands: thin shells that parse arguments, call library code and print.

Library code (screening, explain, queries, exports, scoring, the store) lives in ``tracer/`` beside
this package and never imports click, so the HTTP API, the scheduler and tests call the same
functions the commands do.  ``tracer.cli`` is the root group; it loads these modules lazily.
"""
