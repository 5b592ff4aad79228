"""Local AI Workbench core: configuration, workers, history, metrics, model manager and CLI (no Qt)."""

__version__ = "0.1.0"
