"""Image classification engine: torch CNNs, ONNX Runtime through a cached export, int8, evaluation."""
