"""Build an untrained network by architecture name: EfficientNet-Lite (its PyPI package) or any timm model.

Only code from installed packages builds networks; downloaded files provide tensors and JSON settings.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Mapping
from typing import Any

from engines.base import EngineError, ErrorKind
from engines.vision.preprocess import PreprocessConfig, config_from_timm

# Input resolution of each EfficientNet-Lite variant (the TF reference's efficientnet_lite_builder).
LITE_RESOLUTION = {"efficientnet-lite0": 224, "efficientnet-lite1": 240, "efficientnet-lite2": 260,
                   "efficientnet-lite3": 280, "efficientnet-lite4": 300}

# ImageNet-1k top-1 (%) published for these exact weights; shown on model cards.
REFERENCE_TOP1 = {
    "efficientnet-lite0": (75.1, "TensorFlow EfficientNet-Lite release"),
    "mobilenetv3_small_100.lamb_in1k": (67.7, "timm results"),
    "efficientnet_b0.ra_in1k": (77.7, "timm results"),
    "resnet50.tv_in1k": (76.1, "torchvision"),
    "resnet18.tv_in1k": (69.8, "torchvision"),
}


def is_lite(architecture: str) -> bool:
    """True for the EfficientNet-Lite family served by the efficientnet-lite-pytorch package."""
    return architecture in LITE_RESOLUTION


def lite_preprocess(architecture: str) -> PreprocessConfig:
    """The TF reference evaluation preprocessing of EfficientNet-Lite: crop 0.875, bicubic, (x-127)/128."""
    size = LITE_RESOLUTION[architecture]
    return PreprocessConfig(
        input_size=(size, size), resize_size=int(size / 0.875), interpolation="bicubic",
        mean=(127.0 / 255,) * 3, std=(128.0 / 255,) * 3, crop_mode="center",
        source=f"{architecture} reference (TF eval: crop 0.875, bicubic, (x-127)/128)",
    )


def build(architecture: str, num_classes: int, model_args: Mapping[str, Any] | None = None) -> Any:
    """An untrained ``torch.nn.Module`` of this architecture, in eval mode."""
    if is_lite(architecture):
        from efficientnet_lite_pytorch import EfficientNet

        model = EfficientNet.from_name(architecture, num_classes=num_classes)
    else:
        model = _build_timm(architecture, num_classes, dict(model_args or {}))
    model.eval()
    return model


def _timm() -> Any:
    try:
        import timm
    except ImportError as exc:
        raise EngineError(ErrorKind.UNSUPPORTED, "timm architectures need the `timm` package "
                                                 "(pip install timm)") from exc
    # timm logs at INFO when it builds a model; keep the worker's stderr for real problems.
    logging.getLogger("timm").setLevel(logging.WARNING)
    return timm


def _build_timm(architecture: str, num_classes: int, model_args: dict[str, Any]) -> Any:
    timm = _timm()
    base = architecture.split(".")[0]
    if not timm.is_model(base):
        close = difflib.get_close_matches(base, timm.list_models(), n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise EngineError(ErrorKind.BAD_INPUT, f"unknown architecture {architecture!r}{hint}")
    safe_args = {k: v for k, v in model_args.items() if isinstance(v, str | int | float | bool | list)}
    try:
        return timm.create_model(architecture, pretrained=False, num_classes=num_classes, **safe_args)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise EngineError(ErrorKind.BAD_INPUT, f"cannot build {architecture!r}: {exc}") from exc


def timm_default_config(architecture: str) -> dict[str, Any]:
    """timm's built-in pretrained config for an architecture (``arch.tag`` or the default tag)."""
    timm = _timm()
    cfg = timm.models.get_pretrained_cfg(architecture, allow_unregistered=True)
    if cfg is None:
        cfg = timm.models.get_pretrained_cfg(architecture.split(".")[0], allow_unregistered=True)
    return {} if cfg is None else dict(cfg.to_dict())


def timm_preprocess(architecture: str, cfg: Mapping[str, Any] | None, source: str) -> PreprocessConfig:
    """Preprocessing from a model's own config, else timm's defaults for the architecture."""
    if cfg:
        return config_from_timm(cfg, source)
    defaults = timm_default_config(architecture)
    return config_from_timm(defaults, f"timm defaults for {architecture}") if defaults \
        else PreprocessConfig(source="ImageNet defaults")


def classifier_key(architecture: str) -> str | None:
    """The state-dict prefix of the classifier layer (for reading the class count off the weights)."""
    if is_lite(architecture):
        return "_fc"
    cfg = timm_default_config(architecture)
    classifier = cfg.get("classifier")
    return classifier if isinstance(classifier, str) else None


def detect_architecture(state: Mapping[str, Any]) -> str | None:
    """Recognise EfficientNet-Lite weights by their key names and shapes; None when not recognised."""
    if "_conv_stem.weight" not in state or "_fc.weight" not in state:
        return None
    num_classes = int(state["_fc.weight"].shape[0])
    for name in LITE_RESOLUTION:
        expected = build(name, num_classes).state_dict()
        if expected.keys() == state.keys() and all(
                tuple(expected[k].shape) == tuple(state[k].shape) for k in expected):
            return name
    return None
