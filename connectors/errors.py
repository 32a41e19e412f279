"""The connector errors, in a module of their own: ``tracer --help`` and every command's error
handling import them without the connector interface (:mod:`connectors.base`) and its msgspec."""

from __future__ import annotations


class ConnectorError(Exception):
    """A user-facing failure of a connector: printed as one line, never as a traceback."""


class ConfigError(ConnectorError):
    """Bad configuration or input (exit code 2 at the CLI when raised before any work)."""


class NotConfigured(ConnectorError):
    """A stream with nothing to fetch until the user configures it (io.net without device ids).

    Raised by ``extract`` before any request; the sync records the stream as skipped with the
    message ("not configured: ..."), so an empty answer is never reported as a good sync."""
