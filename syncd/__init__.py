"""syncd: the daemon. App factory, settings, CLI, HTTP features, sync service."""

__version__ = "0.1.0"
