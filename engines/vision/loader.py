"""Turn a model reference (starter id, file, folder) into a network with its preprocessing and labels."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engines.base import EngineError, ErrorKind
from engines.vision import architectures
from engines.vision.labels import labels_for
from engines.vision.model_config import ModelConfig, find_config, read_config, read_labels_file
from engines.vision.preprocess import PreprocessConfig, config_from_timm
from engines.vision.weights import check_fit, read_state_dict

STARTER_ID = "efficientnet-lite0"
_WEIGHT_NAMES = ("model.safetensors", "pytorch_model.bin", "model.pth", "model.onnx")
_WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin", ".onnx")


@dataclass
class LoadedModel:
    """A classifier ready for a backend: a torch module, or an ONNX graph when that is all there is."""

    name: str
    architecture: str  # "onnx" for ONNX graphs
    path: Path  # what the user named
    weights_path: Path
    format: str  # safetensors | pth | onnx
    preprocess: PreprocessConfig
    labels: list[str]
    sha256: str
    module: Any | None = None  # torch.nn.Module
    onnx_path: Path | None = None
    config_path: Path | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def num_classes(self) -> int:
        """How many classes the model scores."""
        return len(self.labels)

    @property
    def reference_top1(self) -> tuple[float, str] | None:
        """Published ImageNet top-1 (%) and its source, where known."""
        return architectures.REFERENCE_TOP1.get(self.name)


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def resolve(ref: str) -> Path:
    """The file or folder ``ref`` names; the app resolves model ids to paths before it sends ``Load``."""
    path = Path(ref).expanduser()
    if not path.exists():
        raise EngineError(ErrorKind.NOT_FOUND, f"no such model file or folder: {ref}")
    return path


def load_model(ref: str, options: Mapping[str, Any] | None = None) -> LoadedModel:
    """Load ``ref``; ``options`` may name ``arch`` (for bare state dicts) and a ``labels`` file."""
    options = dict(options or {})
    path = resolve(ref).resolve()
    weights, config_path = _locate(path)
    config = read_config(config_path)
    arch_option = options.get("arch")
    if arch_option:
        config.architecture = str(arch_option)
    if weights.suffix.lower() == ".onnx":
        model = _load_onnx(path, weights, config)
    else:
        model = _load_torch(ref, path, weights, config)
    if options.get("labels"):
        names = read_labels_file(Path(str(options["labels"])))
        if len(names) != model.num_classes:
            raise EngineError(ErrorKind.BAD_INPUT, f"{options['labels']}: {len(names)} labels for a model "
                                                   f"with {model.num_classes} classes")
        model.labels = names
    return model


def _locate(path: Path) -> tuple[Path, Path | None]:
    if path.is_file():
        return path, find_config(path)
    if not path.is_dir():
        raise EngineError(ErrorKind.NOT_FOUND, f"{path}: no such model file or folder")
    for name in _WEIGHT_NAMES:
        if (path / name).is_file():
            return path / name, find_config(path / name)
    found = sorted(p for p in path.iterdir() if p.suffix.lower() in _WEIGHT_SUFFIXES and p.is_file())
    if not found:
        raise EngineError(ErrorKind.NOT_FOUND, f"{path}: no weights file (.safetensors, .pth, .bin, .onnx) "
                                               "in this folder")
    return found[0], find_config(found[0])


def _load_torch(ref: str, path: Path, weights: Path, config: ModelConfig) -> LoadedModel:
    state = read_state_dict(weights)
    architecture = config.architecture or architectures.detect_architecture(state)
    if architecture is None:
        raise EngineError(ErrorKind.BAD_INPUT,
                          f"{weights.name}: cannot tell which architecture these weights are for; put a timm "
                          "config.json beside it or name it with --arch (e.g. resnet18)")
    num_classes = config.num_classes or _classes_from_weights(architecture, state) or 1000
    module = architectures.build(architecture, num_classes, config.model_args)
    check_fit(module, state, architecture, weights.name)
    module.load_state_dict(state, strict=True)
    module.eval()
    if architectures.is_lite(architecture):
        preprocess = architectures.lite_preprocess(architecture)
        name = STARTER_ID if ref == STARTER_ID or architecture == STARTER_ID else architecture
    else:
        source = config.path.name if config.path and config.pretrained_cfg else ""
        preprocess = architectures.timm_preprocess(architecture, config.pretrained_cfg, source)
        name = f"{architecture}.{config.tag}" if config.tag and "." not in architecture else architecture
    return LoadedModel(
        name=name, architecture=architecture, path=path, weights_path=weights,
        format="safetensors" if weights.suffix.lower() == ".safetensors" else "pth",
        preprocess=preprocess, labels=labels_for(num_classes, config.label_names),
        sha256=file_sha256(weights), module=module, config_path=config.path,
    )


def _classes_from_weights(architecture: str, state: Mapping[str, Any]) -> int | None:
    key = architectures.classifier_key(architecture)
    weight = state.get(f"{key}.weight") if key else None
    return int(weight.shape[0]) if weight is not None and len(weight.shape) >= 1 else None


def _load_onnx(path: Path, weights: Path, config: ModelConfig) -> LoadedModel:
    import onnx

    try:
        onnx.checker.check_model(str(weights))
        graph = onnx.load(str(weights), load_external_data=False).graph
    except Exception as exc:  # onnx raises protobuf DecodeError, ValidationError, OSError...
        words = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise EngineError(ErrorKind.BAD_INPUT, f"{weights.name}: not a valid ONNX model ({words})") from exc
    initializers = {i.name for i in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initializers]
    if len(inputs) != 1 or len(graph.output) < 1:
        raise EngineError(ErrorKind.UNSUPPORTED, f"{weights.name}: expected one image input, found "
                                                 f"{len(inputs)} inputs")
    dims = [d.dim_value if d.HasField("dim_value") else None for d in inputs[0].type.tensor_type.shape.dim]
    if len(dims) != 4 or (dims[1] is not None and dims[1] != 3):
        raise EngineError(ErrorKind.UNSUPPORTED, f"{weights.name}: input shape {dims} is not "
                                                 "[batch, 3, height, width] (NCHW RGB)")
    notes: list[str] = []
    if config.pretrained_cfg:
        preprocess = config_from_timm(config.pretrained_cfg, config.path.name if config.path else "config")
    else:
        height, width = dims[2] or 224, dims[3] or 224
        preprocess = PreprocessConfig(input_size=(height, width), resize_size=int(min(height, width) / 0.875),
                                      source="ImageNet defaults (the ONNX file states no preprocessing)")
        notes.append("no config beside the ONNX file: ImageNet default preprocessing assumed")
    if dims[2] and dims[3] and (dims[2], dims[3]) != preprocess.input_size:
        raise EngineError(ErrorKind.BAD_INPUT, f"{weights.name}: the graph takes {dims[2]}x{dims[3]} images but "
                                               f"its config says {preprocess.input_size[0]}x{preprocess.input_size[1]}")
    out_dims = [d.dim_value if d.HasField("dim_value") else None
                for d in graph.output[0].type.tensor_type.shape.dim]
    num_classes = config.num_classes or (out_dims[-1] if out_dims and out_dims[-1] else None)
    if num_classes is None:
        raise EngineError(ErrorKind.UNSUPPORTED, f"{weights.name}: the output's class count is not fixed in "
                                                 "the graph; state num_classes in a config.json beside it")
    name = config.architecture or weights.stem
    return LoadedModel(
        name=name, architecture="onnx", path=path, weights_path=weights, format="onnx",
        preprocess=preprocess, labels=labels_for(int(num_classes), config.label_names),
        sha256=file_sha256(weights), onnx_path=weights, config_path=config.path, notes=notes,
    )
