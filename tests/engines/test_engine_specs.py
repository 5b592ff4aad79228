"""What the built-in engines declare in their EngineSpec, and that the app reads it from there."""

from __future__ import annotations

import subprocess
import sys

import pytest

from app.discovery import discover
from app.model_refs import resolve_model_ref
from app.starter_models import STARTER_MODELS
from engines.base import OptionSpec


def test_discovery_finds_the_declared_knowledge_without_importing_heavy_libraries() -> None:
    code = ("import sys\nfrom app.discovery import discover\nspecs = discover().specs\n"
            "print(sorted(specs), specs['llm'].default_model, specs['vision'].provider_for('cuda:1'))\n"
            "print(sorted(m for m in ('numpy', 'torch', 'llama_cpp', 'onnxruntime', 'PIL') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    first, heavy = out.splitlines()
    assert "smollm2-135m-instruct CUDAExecutionProvider" in first
    assert heavy == "[]"


@pytest.mark.parametrize("engine_id", ["llm", "vision", "bayes"])
def test_every_built_in_engine_declares_its_default_model_and_options(engine_id: str) -> None:
    spec = discover().specs[engine_id]
    assert spec.default_model in spec.starter_models
    assert spec.backends and spec.precisions and spec.load_options
    assert spec.compare_workload.startswith("app.compare.")
    for option in (*spec.load_options, *spec.op_options):
        assert isinstance(option, OptionSpec) and option.help
        if option.kind == "choice":
            assert option.default in option.choices, option.name
    names = [o.name for o in spec.load_options]
    assert len(names) == len(set(names))


def test_packaged_starter_models_are_the_ones_the_specs_name() -> None:
    specs = discover().specs
    declared = {m for s in specs.values() for m in s.starter_models}
    packaged = {m.id for m in STARTER_MODELS}
    # app.starter_models knows the packages; every packaged model is some engine's declared starter.
    assert packaged <= declared
    assert resolve_model_ref(specs["llm"].default_model, "llm").suffix == ".gguf"


def test_declared_choices_are_what_the_engines_accept() -> None:
    from engines.llm.options import KV_CACHE_TYPES, LoadOptions, parse_load_options
    from engines.vision.backend import BACKENDS, PRECISIONS

    specs = discover().specs
    llm = specs["llm"]
    assert llm.choices("cache_type_k") == tuple(KV_CACHE_TYPES)
    assert llm.option("n_ctx").default == LoadOptions().n_ctx
    for choice in llm.choices("cache_type_k"):
        assert parse_load_options({"cache_type_k": choice}).cache_type_k == choice
    vision = specs["vision"]
    assert set(vision.backends) == set(BACKENDS) and vision.precisions == PRECISIONS
    assert set(vision.choices("backend")) == {"auto", *BACKENDS}
    with pytest.raises(KeyError, match="declares no option 'colour'"):
        vision.option("colour")


def test_the_onnx_runtime_provider_map_is_the_specs() -> None:
    from engines.vision.ort_backend import providers_for

    vision = discover().specs["vision"]
    assert vision.provider_for("dml:0") == "DmlExecutionProvider" and vision.provider_for("mps") == (
        "CoreMLExecutionProvider")
    assert vision.provider_for("cpu") is None and vision.provider_for("ort:CUDAExecutionProvider:0") is None
    assert providers_for("cuda:1", ["CUDAExecutionProvider", "CPUExecutionProvider"]) == [
        ("CUDAExecutionProvider", {"device_id": 1}), "CPUExecutionProvider"]
    with pytest.raises(Exception, match="no CoreMLExecutionProvider"):
        providers_for("mps", ["CPUExecutionProvider"])


def test_a_missing_engine_or_option_reads_as_a_bare_option() -> None:
    from app.discovery import declared_option, find_spec

    assert find_spec("no-such-engine") is None and find_spec("vision") is not None
    for engine_id, name in (("no-such-engine", "backend"), ("vision", "colour")):
        bare = declared_option(engine_id, name)
        assert (bare.name, bare.choices, bare.default, bare.help) == (name, (), None, "")
    assert declared_option("vision", "backend").default == "auto"
