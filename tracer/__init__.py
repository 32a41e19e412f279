"""tracer: the application (config, store, pipeline, scoring, users) on top of connectors and graphs."""

__version__ = "0.1.0"
