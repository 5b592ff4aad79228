"""The local OpenAI-compatible HTTP server (FastAPI + uvicorn + sse-starlette) over the model service.

Layers: ``ui`` may start it in the GUI process; it uses ``app`` (the model service, the history, the model
refs) and never imports an engine: every request is a ticket in :class:`app.service.ModelService`.
"""
