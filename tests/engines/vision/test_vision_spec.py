"""The light spec: discovery finds it without torch, and it picks the devices the engine can drive."""

from __future__ import annotations

import subprocess
import sys

from app.discovery import discover
from engines.base import Device, EngineKind
from engines.vision.spec import SPEC


def test_spec_is_discovered_and_imports_no_heavy_library() -> None:
    assert discover().specs["vision"].engine_class == "engines.vision.engine:VisionEngine"
    assert SPEC.kind is EngineKind.VISION and SPEC.opens("Model.ONNX") and SPEC.opens("w.safetensors")
    assert set(SPEC.ops) == {"classify", "eval", "card", "benchmark", "agreement"}
    code = ("import sys, engines.vision.spec; "
            "print(sorted(m for m in ('torch', 'onnxruntime', 'timm', 'onnx') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_supported_devices() -> None:
    devices = [Device("cpu", "cpu", "cpu", "CPU"), Device("cuda:0", "gpu", "torch", "H100"),
               Device("mps", "gpu", "torch", "Apple"), Device("cuda:0", "gpu", "llama.cpp", "H100"),
               Device("ort:QNNExecutionProvider:0", "npu", "onnxruntime", "QNN"),
               Device("ort:AzureExecutionProvider:0", "cpu", "onnxruntime", "Azure")]
    assert SPEC.supported_devices(devices) == ["cpu", "cuda:0", "mps", "ort:QNNExecutionProvider:0"]
