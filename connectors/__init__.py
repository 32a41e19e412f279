"""Source connectors: each module crawls one public source into Pages and Records (never imports tracer)."""
