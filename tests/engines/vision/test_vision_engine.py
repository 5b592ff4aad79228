"""EfficientNet-Lite0 (real ImageNet weights) through the engine: correctness, bad input, cancel, ops."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from vision_helpers import SAMPLES, RecordingContext

from engines.base import EngineError, ErrorKind, RunCancelled
from engines.vision.decode import decode_image
from engines.vision.postprocess import probabilities, top_k_indices
from engines.vision.preprocess import preprocess

CATS = {"tiger cat", "tabby", "Egyptian cat", "Persian cat", "Siamese cat"}


def sample_batch(engine: Any) -> np.ndarray:
    config = engine._runtime.model.preprocess
    return np.stack([preprocess(decode_image(p).image, config)[0] for p in sorted(SAMPLES.glob("*.jpg"))])


def test_load_reports_model_preprocessing_and_backend(lite_engine: Any) -> None:
    info = lite_engine._info
    assert info["name"] == "efficientnet-lite0" and info["num_classes"] == 1000
    assert info["backend"] == "onnxruntime" and info["precision"] == "fp32" and info["threads"] == 1
    assert info["preprocess"]["interpolation"] == "bicubic" and info["preprocess"]["resize_size"] == 256
    assert info["backend_details"]["providers"] == ["CPUExecutionProvider"]
    assert info["cold_first_run_ms"] > 0


def test_torch_and_onnxruntime_agree_within_1e4_on_the_sample_photos(lite_engine: Any) -> None:
    runtime = lite_engine._runtime
    batch = sample_batch(lite_engine)
    torch_probs = probabilities(runtime.get("torch", "fp32").infer(batch))
    ort_probs = probabilities(runtime.get("onnxruntime", "fp32").infer(batch))
    assert np.abs(torch_probs - ort_probs).max() < 1e-4
    assert (top_k_indices(torch_probs, 5) == top_k_indices(ort_probs, 5)).all()


def test_classify_names_the_sample_photos(lite_engine: Any, ctx: RecordingContext) -> None:
    result = lite_engine.run("classify", {"paths": [str(SAMPLES)], "topk": 5}, ctx)
    by_name = {Path(p["path"]).name: p for p in ctx.partials}
    assert by_name["coffee.jpg"]["top"][0]["label"] == "espresso"
    assert by_name["coffee.jpg"]["top"][0]["prob"] > 0.8
    assert by_name["chelsea.jpg"]["top"][0]["label"] in CATS
    for row in ctx.partials:
        assert len(row["top"]) == 5
        assert row["top"][0]["prob"] >= row["top"][-1]["prob"]
        assert set(row["times_ms"]) == {"decode", "preprocess", "inference", "postprocess"}
        assert row["latency_ms"] >= row["times_ms"]["inference"] > 0
    metrics = result["metrics"]
    assert result["classified"] == 4 and result["failed"] == 0
    assert metrics["images_per_s"] > 0 and metrics["latency_p99_ms"] >= metrics["latency_median_ms"] > 0
    assert len(result["series"]["latency_ms"]) == 4
    assert ctx.progress_calls[-1][0] == ctx.progress_calls[-1][1] == 4


def test_bad_files_fail_one_by_one_and_the_rest_is_classified(lite_engine: Any, mixed_folder: Path,
                                                             ctx: RecordingContext) -> None:
    result = lite_engine.run("classify", {"paths": [str(mixed_folder)], "batch": 3}, ctx)
    by_name = {Path(p["path"]).name: p for p in ctx.partials}
    good = ["a_coffee.jpg", "b_gray.png", "c_cmyk.jpg", "d_rgba.png", "e_gray16.png", "f_palette.gif"]
    bad = ["g_not_an_image.jpg", "h_truncated.jpg", "i_huge.png", "j_large.png", "k_empty.png"]
    for name in good:
        assert by_name[name]["ok"], by_name[name]
    assert by_name["a_coffee.jpg"]["top"][0]["label"] == "espresso"
    assert by_name["d_rgba.png"]["top"][0]["label"] == "espresso"
    assert by_name["b_gray.png"]["top"][0]["label"] in CATS | {"lynx", "Madagascar cat"}
    for name in bad:
        row = by_name[name]
        assert not row["ok"] and row["kind"] == "bad_input" and name in row["error"]
    assert result["classified"] == len(good) and result["failed"] == len(bad)
    assert result["skipped_files"] == 1


def test_empty_folder_and_missing_paths_are_clear_errors(lite_engine: Any, tmp_path: Path,
                                                        ctx: RecordingContext) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(EngineError) as info:
        lite_engine.run("classify", {"paths": [str(empty)]}, ctx)
    assert info.value.kind is ErrorKind.BAD_INPUT and "no images" in info.value.message
    with pytest.raises(EngineError) as missing:
        lite_engine.run("classify", {"paths": [str(tmp_path / "nope.jpg")]}, ctx)
    assert missing.value.kind is ErrorKind.NOT_FOUND
    with pytest.raises(EngineError):
        lite_engine.run("classify", {}, ctx)
    with pytest.raises(EngineError) as unknown:
        lite_engine.run("segment", {}, ctx)
    assert "classify" in unknown.value.message


def test_cancel_stops_between_batches_with_the_summary_so_far(lite_engine: Any, tmp_path: Path) -> None:
    for n in range(24):
        shutil.copy(SAMPLES / "coffee.jpg", tmp_path / f"{n:02d}.jpg")
    ctx = RecordingContext(cancel_after=4)
    with pytest.raises(RunCancelled) as info:
        lite_engine.run("classify", {"paths": [str(tmp_path)], "batch": 4}, ctx)
    summary = info.value.args[0]
    assert summary["cancelled"] is True and summary["classified"] == 4
    assert len(ctx.partials) == 4  # stopped after the first batch, not at the end of the folder


def test_model_card(lite_engine: Any) -> None:
    card = lite_engine.card()
    assert card["parameters"] == 4_652_008
    assert 3.5e8 < card["macs"] < 4.2e8  # EfficientNet-Lite0 is ~0.4 GMACs at 224x224
    assert card["input_size"] == [3, 224, 224]
    assert card["reference_top1"]["value"] == pytest.approx(75.1)
    assert "bicubic" in card["preprocess_summary"]


def test_benchmark_op_measures_each_batch_size(lite_engine: Any, ctx: RecordingContext) -> None:
    result = lite_engine.run("benchmark", {"batch_sizes": [1, 2], "iterations": 3, "warmup": 1}, ctx)
    assert [row["batch"] for row in result["rows"]] == [1, 2]
    for row in result["rows"]:
        assert row["latency_median_ms"] > 0 and row["images_per_s"] > 0 and row["cold_ms"] > 0
    assert len(result["series"]["onnxruntime_fp32_b2_latency_ms"]) == 3
    with pytest.raises(EngineError):
        lite_engine.run("benchmark", {"batch_sizes": [0]}, ctx)


def test_agreement_report_includes_int8(lite_engine: Any, ctx: RecordingContext) -> None:
    result = lite_engine.run("agreement", {}, ctx)
    assert result["reference"] == "torch fp32 cpu" and result["images"] == 4
    rows = {(r["backend"], r["precision"]): r for r in result["rows"]}
    assert rows[("torch", "fp32")]["max_prob_diff"] == 0.0
    assert rows[("onnxruntime", "fp32")]["max_prob_diff"] < 1e-4
    assert rows[("onnxruntime", "fp32")]["top5_equal"] == 1.0
    int8 = rows[("onnxruntime", "int8")]
    assert "error" not in int8
    assert 0.0 <= int8["top1_agreement"] <= 1.0 and 0.0 < int8["max_prob_diff"] < 1.0
    assert result["metrics"]["onnxruntime_int8_top1_agreement"] == int8["top1_agreement"]
    # The int8 graph still recognises the espresso it has seen clearly.
    batch = sample_batch(lite_engine)
    int8_probs = probabilities(lite_engine._runtime.get("onnxruntime", "int8").infer(batch))
    names = [p.name for p in sorted(SAMPLES.glob("*.jpg"))]
    labels = lite_engine._runtime.model.labels
    assert labels[int(int8_probs[names.index("coffee.jpg")].argmax())] == "espresso"


def test_fp16_on_cpu_and_int8_on_torch_are_refused(lite_engine: Any) -> None:
    runtime = lite_engine._runtime
    with pytest.raises(EngineError) as fp16:
        runtime.get("torch", "fp16")
    assert fp16.value.kind is ErrorKind.UNSUPPORTED and "GPU" in fp16.value.message
    with pytest.raises(EngineError) as int8:
        runtime.get("torch", "int8")
    assert "onnxruntime" in int8.value.message
    with pytest.raises(EngineError) as device:
        runtime.get("torch", "fp32", "ort:QNNExecutionProvider:0")
    assert device.value.kind is ErrorKind.DEVICE


def test_auto_choice_is_measured_once_then_remembered(lite_engine: Any) -> None:
    from engines.vision.autoselect import choose, store_path

    first = choose(lite_engine._runtime, "fp32", 1, remeasure=True)
    assert set(first.timings_ms) == {"torch", "onnxruntime"} and not first.remembered
    assert first.backend == min(first.timings_ms, key=first.timings_ms.__getitem__)
    again = choose(lite_engine._runtime, "fp32", 1)
    assert again.remembered and again.backend == first.backend
    assert store_path().is_file()
    assert choose(lite_engine._runtime, "int8", 1).backend == "onnxruntime"  # int8 has one candidate


def test_large_jpegs_decode_at_reduced_scale_with_the_same_answer(lite_engine: Any, tmp_path: Path) -> None:
    from PIL import Image

    big = tmp_path / "big_coffee.jpg"
    Image.open(SAMPLES / "coffee.jpg").resize((2400, 1600), Image.Resampling.BICUBIC).save(big, quality=92)
    answers = {}
    decode_ms: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(3):  # alternated, fastest of three: one sample each is at the mercy of a busy machine
        for fast in (True, False):
            ctx = RecordingContext()
            lite_engine.run("classify", {"paths": [str(big)], "fast_decode": fast}, ctx)
            answers[fast] = ctx.partials[0]
            decode_ms[fast].append(answers[fast]["times_ms"]["decode"])
    assert answers[True]["size"] == [2400, 1600]
    assert answers[True]["top"][0]["label"] == answers[False]["top"][0]["label"] == "espresso"
    assert abs(answers[True]["top"][0]["prob"] - answers[False]["top"][0]["prob"]) < 0.05
    assert min(decode_ms[True]) < min(decode_ms[False])
