"""The bottom layer: what both the app and the engines need (paths, metrics, thread env, memory fit, GGUF header)."""
