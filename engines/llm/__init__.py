"""The LLM engine: GGUF models run with llama.cpp (llama-cpp-python)."""
