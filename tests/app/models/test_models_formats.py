"""Model files are recognized by their content: GGUF, safetensors, ONNX, PyTorch, Bayesian network texts."""

from __future__ import annotations

import importlib.util
import json
import struct
from pathlib import Path

import pytest
from fake_hub_server import tiny_gguf

from app.models.errors import ModelError, Reason
from app.models.formats import detect_file
from app.models.starters import starter_records

PGMPY_MODELS = Path(importlib.util.find_spec("pgmpy").submodule_search_locations[0]) / "utils" / "example_models"


def _starter_path(model_id: str) -> Path:
    record = next((r for r in starter_records() if r.id == model_id), None)
    if record is None or not record.path:
        pytest.skip(f"starter model {model_id} is not installed")
    return Path(record.path)


def test_real_gguf_is_read_with_its_metadata() -> None:
    found = detect_file(_starter_path("smollm2-135m-instruct"))
    assert found is not None
    assert (found.kind, found.format, found.quant) == ("llm", "gguf", "Q4_1")
    assert found.meta["architecture"] == "llama"
    assert found.meta["context_length"] == 8192
    assert found.meta["parameters"] > 100_000_000


def test_real_pytorch_checkpoint_is_a_vision_pth() -> None:
    found = detect_file(_starter_path("efficientnet-lite0"))
    assert found is not None and (found.kind, found.format) == ("vision", "pth")


def test_real_gzipped_bif_network() -> None:
    found = detect_file(PGMPY_MODELS / "alarm.bif.gz")
    assert found is not None and (found.kind, found.format) == ("bayes", "bif")
    assert found.meta == {"compressed": "gzip"}


def test_gguf_by_content_whatever_the_suffix(tmp_path: Path) -> None:
    path = tmp_path / "renamed.bin"
    path.write_bytes(tiny_gguf(file_type=7))
    found = detect_file(path)
    assert found is not None and (found.format, found.quant) == ("gguf", "Q8_0")


def test_truncated_gguf_is_refused_with_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "cut.gguf"
    path.write_bytes(tiny_gguf()[:40])
    with pytest.raises(ModelError) as error:
        detect_file(path)
    assert error.value.reason is Reason.BAD_INPUT
    assert "truncated" in error.value.message or "corrupt" in error.value.message


def _safetensors(path: Path) -> None:
    header = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header + struct.pack("<2f", 1.0, 2.0))


def test_safetensors_kind_comes_from_the_config_next_to_it(tmp_path: Path) -> None:
    timm = tmp_path / "timm"
    timm.mkdir()
    _safetensors(timm / "model.safetensors")
    (timm / "config.json").write_text(json.dumps({"architecture": "resnet18", "num_classes": 1000}))
    found = detect_file(timm / "model.safetensors")
    assert found is not None and (found.kind, found.format) == ("vision", "safetensors")
    assert found.meta == {"architecture": "resnet18", "num_classes": 1000}

    llm = tmp_path / "llm"
    llm.mkdir()
    _safetensors(llm / "model.safetensors")
    (llm / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"]}))
    found = detect_file(llm / "model.safetensors")
    assert found is not None and found.kind == "llm"


def test_onnx_model_is_recognized_and_other_protobuf_is_not(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])])
    path = tmp_path / "relu.onnx"
    onnx.save(helper.make_model(graph), str(path))
    found = detect_file(path)
    assert found is not None and (found.kind, found.format) == ("vision", "onnx")

    not_onnx = tmp_path / "other.onnx"
    not_onnx.write_bytes(b"\x08\x07\x99\x99\x99")  # ir_version, then a field ModelProto does not have
    assert detect_file(not_onnx) is None


@pytest.mark.parametrize(("text", "fmt"), [
    ('// a comment\nnetwork "asia" {\n}\nvariable asia {\n}\n', "bif"),
    ('<?xml version="1.0"?>\n<smile version="1.0" id="n">\n<nodes/></smile>\n', "xdsl"),
    ("<?xml version='1.0'?>\n<BIF VERSION='0.3'><NETWORK><NAME>n</NAME><VARIABLE TYPE='nature'>"
     "</VARIABLE></NETWORK></BIF>\n", "xmlbif"),
    ("% Hugin\nnet\n{\n}\nnode A\n{\n states = (\"y\" \"n\");\n}\n", "net"),
    ("BAYES\n2\n2 2\n2\n1 0\n2 0 1\n", "uai"),
    ("bnet Asia {\n}\n", "dne"),
])
def test_bayesian_network_text_formats(tmp_path: Path, text: str, fmt: str) -> None:
    path = tmp_path / "network.txt.model"
    path.write_text(text)
    found = detect_file(path)
    assert found is not None and (found.kind, found.format) == ("bayes", fmt)


def test_files_that_are_not_models_are_not_recognized(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# A model card\n")
    blob = tmp_path / "noise.bin"
    blob.write_bytes(bytes(range(256)) * 4)
    assert detect_file(readme) is None
    assert detect_file(blob) is None
