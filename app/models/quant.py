"""Quantization names (Q4_K_M, Q8_0, IQ3_XXS, F16, ...) parsed from GGUF file names, and shard names."""

from __future__ import annotations

import re

# Longest alternatives first so "Q4_K_M" wins over "Q4_K" and "IQ2_XXS" over "IQ2_XS".
_QUANT_NAMES = (
    "IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ2_M", "IQ3_XXS", "IQ3_XS", "IQ3_S", "IQ3_M",
    "IQ4_XS", "IQ4_NL", "Q2_K_S", "Q2_K_L", "Q2_K", "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q3_K_XL", "Q3_K",
    "Q4_0_4_4", "Q4_0_4_8", "Q4_0_8_8", "Q4_0", "Q4_1", "Q4_K_S", "Q4_K_M", "Q4_K_L", "Q4_K_XL", "Q4_K",
    "Q5_0", "Q5_1", "Q5_K_S", "Q5_K_M", "Q5_K_L", "Q5_K_XL", "Q5_K", "Q6_K_L", "Q6_K_XL", "Q6_K",
    "Q8_0", "Q8_K_XL", "TQ1_0", "TQ2_0", "MXFP4_MOE", "MXFP4", "BF16", "F16", "F32", "FP16", "FP32",
)
_ALTERNATION = "|".join(sorted(_QUANT_NAMES, key=len, reverse=True))
# A name must stand between separators (., -, _ or the ends) so "f16" inside "qwen2.5-f16x" is not taken.
_QUANT_RE = re.compile(rf"(?:^|[._\-])(?:UD-)?({_ALTERNATION})(?=$|[._\-])", re.IGNORECASE)
_SHARD_RE = re.compile(r"^(?P<stem>.+)-(?P<index>\d{5})-of-(?P<count>\d{5})\.gguf$", re.IGNORECASE)
_ALIASES = {"FP16": "F16", "FP32": "F32"}

# The quant a pull picks when a repository holds several and none was named: good quality per byte.
PREFERRED_QUANTS = ("Q4_K_M", "Q4_K_S", "Q5_K_M", "Q4_0", "Q5_K_S", "Q6_K", "Q8_0", "IQ4_XS")


def parse_quant(filename: str) -> str | None:
    """The quantization named in a GGUF file name (``model.Q4_K_M.gguf`` -> ``Q4_K_M``), else None."""
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    shard = _SHARD_RE.match(name)
    stem = shard.group("stem") if shard else re.sub(r"\.gguf$", "", name, flags=re.IGNORECASE)
    matches = _QUANT_RE.findall(stem)
    if not matches:
        return None
    # The last match is the quant: names like "Q8_0-model-Q4_K_M" are rare, suffixes are the convention.
    found = matches[-1].upper()
    return _ALIASES.get(found, found)


def shard_info(filename: str) -> tuple[str, int, int] | None:
    """``(stem, index, count)`` for a split GGUF (``x-00001-of-00003.gguf``), else None."""
    match = _SHARD_RE.match(filename.replace("\\", "/").rsplit("/", 1)[-1])
    if match is None:
        return None
    return match.group("stem"), int(match.group("index")), int(match.group("count"))


def is_gguf_name(filename: str) -> bool:
    """True for a ``.gguf`` file name."""
    return filename.lower().endswith(".gguf")


def is_projector_name(filename: str) -> bool:
    """True for a multimodal projector (``mmproj-*.gguf``), which is not a model on its own."""
    return filename.replace("\\", "/").rsplit("/", 1)[-1].lower().startswith("mmproj")
