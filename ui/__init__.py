"""The Qt desktop app: windows, pages and graphs. Talks to ``app/`` only, never to engine internals."""
