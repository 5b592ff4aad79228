"""The Server page: the OpenAI-compatible server running inside the GUI over the GUI's own model service."""
