"""The light description of the vision engine that discovery imports (no torch, no onnxruntime)."""

from __future__ import annotations

from collections.abc import Sequence

from engines.base import Device, EngineKind, EngineSpec, OptionSpec

# Torch devices the engine drives itself; ONNX Runtime devices are reached through execution providers.
_TORCH_PREFIXES = ("cuda:", "dml:")
BACKENDS = ("torch", "onnxruntime")
PRECISIONS = ("fp32", "fp16", "int8")
LOAD_OPTIONS = (
    OptionSpec("backend", "choice", "auto", ("auto", "onnxruntime", "torch"),
               help="auto measures torch and ONNX Runtime once and keeps the faster"),
    OptionSpec("precision", "choice", "fp32", PRECISIONS,
               help="int8 is quantized on first use; fp16 needs a GPU to pay off"),
    OptionSpec("threads", "int", None, help="CPU threads; auto: the physical cores"),
    OptionSpec("batch", "int", 8, help="images per inference call"),
)
# The ONNX Runtime provider that serves each torch-style device id prefix (cuda:0 -> CUDA, ...).
DEVICE_PROVIDERS = (("cuda", "CUDAExecutionProvider"), ("dml", "DmlExecutionProvider"),
                    ("mps", "CoreMLExecutionProvider"))
_ORT_PROVIDERS = ("CPUExecutionProvider", "CUDAExecutionProvider", "DmlExecutionProvider",
                  "OpenVINOExecutionProvider", "QNNExecutionProvider", "CoreMLExecutionProvider",
                  "TensorrtExecutionProvider", "ROCMExecutionProvider", "MIGraphXExecutionProvider")


def _usable(device: Device) -> bool:
    if device.backend == "torch":
        return device.id.startswith(_TORCH_PREFIXES) or device.id == "mps"
    if device.backend == "onnxruntime":
        parts = device.id.split(":")
        return len(parts) >= 2 and parts[1] in _ORT_PROVIDERS
    return False


def supported_devices(devices: Sequence[Device]) -> list[str]:
    """The device ids the vision engine can run on: the CPU, torch GPUs and ONNX Runtime providers."""
    found = ["cpu"]
    for device in devices:
        if device.id not in found and _usable(device):
            found.append(device.id)
    return found


SPEC = EngineSpec(
    id="vision",
    kind=EngineKind.VISION,
    title="Image classification (torch, ONNX Runtime)",
    engine_class="engines.vision.engine:VisionEngine",
    file_types=(".pth", ".pt", ".safetensors", ".onnx"),
    ops=("classify", "eval", "card", "benchmark", "agreement"),
    supported_devices=supported_devices,
    description="ImageNet CNNs (EfficientNet-Lite0 built in, timm safetensors, .pth state dicts, .onnx) on "
                "torch eager or ONNX Runtime, fp32/fp16/int8, with labelled-folder evaluation.",
    device_providers=DEVICE_PROVIDERS,
    compare_workload="app.compare.vision_workload:WORKLOAD",
    load_options=LOAD_OPTIONS,
    default_model="efficientnet-lite0",
    starter_models=("efficientnet-lite0",),
    backends=BACKENDS,
    precisions=PRECISIONS,
)
