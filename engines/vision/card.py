"""The model card: parameters, multiply-accumulates, input size, preprocessing, reference accuracy."""

from __future__ import annotations

from typing import Any

import numpy as np

from engines.vision.loader import LoadedModel


def count_torch(module: Any, input_size: tuple[int, int]) -> tuple[int, int]:
    """(parameters, MACs per image) of a torch module: convolutions and linear layers, counted by hooks."""
    import torch

    params = int(sum(p.numel() for p in module.parameters()))
    macs = [0]

    def conv_hook(layer: Any, _inputs: Any, output: Any) -> None:
        kernel = int(np.prod(layer.kernel_size))
        macs[0] += int(output.numel()) * (layer.in_channels // layer.groups) * kernel

    def linear_hook(layer: Any, _inputs: Any, output: Any) -> None:
        macs[0] += int(output.numel()) * int(layer.in_features)

    handles = []
    for layer in module.modules():
        if isinstance(layer, torch.nn.Conv1d | torch.nn.Conv2d | torch.nn.Conv3d):
            handles.append(layer.register_forward_hook(conv_hook))
        elif isinstance(layer, torch.nn.Linear):
            handles.append(layer.register_forward_hook(linear_hook))
    try:
        device = next(module.parameters()).device
        with torch.inference_mode():
            module(torch.zeros(1, 3, *input_size, device=device))
    finally:
        for handle in handles:
            handle.remove()
    return params, macs[0]


def count_onnx(path: Any) -> tuple[int, int | None]:
    """(parameters, MACs per image) of an ONNX graph: Conv, Gemm and MatMul with inferable shapes."""
    import onnx
    from onnx import shape_inference

    model = onnx.load(str(path))
    weights = {init.name: tuple(init.dims) for init in model.graph.initializer}
    params = int(sum(int(np.prod(dims)) for dims in weights.values()))
    try:
        inferred = shape_inference.infer_shapes(_with_batch_one(model, onnx))
    except Exception:
        return params, None
    shapes: dict[str, tuple[int, ...]] = {}
    for value in [*inferred.graph.value_info, *inferred.graph.output, *inferred.graph.input]:
        dims = value.type.tensor_type.shape.dim
        if all(d.HasField("dim_value") for d in dims):
            shapes[value.name] = tuple(d.dim_value for d in dims)
    shapes.update(weights)
    macs = 0
    for node in inferred.graph.node:
        out = shapes.get(node.output[0]) if node.output else None
        if out is None:
            continue
        if node.op_type == "Conv" and len(node.input) > 1 and node.input[1] in shapes:
            weight = shapes[node.input[1]]  # (out_ch, in_ch / groups, kh, kw)
            macs += int(np.prod(out)) * int(np.prod(weight[1:]))
        elif node.op_type in ("Gemm", "MatMul") and node.input[0] in shapes:
            inner = shapes[node.input[0]][-1]
            macs += int(np.prod(out)) * int(inner)
    return params, macs


def _with_batch_one(model: Any, onnx: Any) -> Any:
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    for value in copy.graph.input:
        dims = value.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            dims[0].dim_value = 1
    return copy


def build_card(model: LoadedModel, params: int, macs: int | None, onnx_graph: str | None = None) -> dict[str, Any]:
    """The card as plain data."""
    reference = model.reference_top1
    height, width = model.preprocess.input_size
    return {
        "name": model.name,
        "architecture": model.architecture,
        "format": model.format,
        "path": str(model.path),
        "weights": str(model.weights_path),
        "config": str(model.config_path) if model.config_path else None,
        "sha256": model.sha256,
        "file_bytes": model.weights_path.stat().st_size,
        "parameters": params,
        "macs": macs,
        "gmacs": None if macs is None else round(macs / 1e9, 3),
        "input_size": [3, height, width],
        "num_classes": model.num_classes,
        "labels_sample": model.labels[:5],
        "preprocess": model.preprocess.describe(),
        "preprocess_summary": model.preprocess.summary(),
        "reference_top1": None if reference is None else {"value": reference[0], "source": reference[1]},
        "onnx_graph": onnx_graph,
        "notes": list(model.notes),
    }
