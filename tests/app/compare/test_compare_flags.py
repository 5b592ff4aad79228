"""Flags across rows: a device no faster than the CPU (and why), and where an accelerator overtakes it."""

from __future__ import annotations

from app.compare.flags import apply_cross_row_flags
from app.compare.results import INFO, ResultRow


def _vision(device: str, backend: str, b1: float, b8: float) -> ResultRow:
    row = ResultRow("vision", device, backend, "fp32")
    row.metrics.update(b1_images_per_s=b1, b8_images_per_s=b8, images_per_s=max(b1, b8))
    return row


def test_a_gpu_slower_than_the_cpu_is_called_out_with_its_fallback() -> None:
    cpu = _vision("cpu", "onnxruntime", 30.0, 40.0)
    npu = _vision("ort:QNNExecutionProvider:0", "onnxruntime", 28.0, 39.0)
    npu.flag("cpu_fallback", "silent CPU fallback: QNNExecutionProvider was not used")
    gpu = _vision("cuda:0", "onnxruntime", 20.0, 400.0)
    changed = apply_cross_row_flags([cpu, npu, gpu])
    assert npu in changed and cpu not in changed
    slow = next(f for f in npu.flags if f.code == "no_faster_than_cpu")
    assert "39 vs 40 images/s" in slow.message and "fell back to the CPU provider" in slow.message
    assert not gpu.has_flag("no_faster_than_cpu")
    overtakes = next(f for f in gpu.flags if f.code == "overtakes_cpu")
    assert overtakes.level == INFO and "from batch 8" in overtakes.message
    assert gpu.metrics["overtakes_cpu_at_batch"] == 8


def test_lower_is_better_for_bayes_and_failed_rows_are_left_alone() -> None:
    cpu = ResultRow("bayes", "cpu", "numpy", "float64", "jt", metrics={"query_median_ms": 2.0})
    gpu = ResultRow("bayes", "cuda:0", "torch", "float64", "jt", metrics={"query_median_ms": 9.0})
    broken = ResultRow("bayes", "cuda:1", "torch", "float64", "jt")
    broken.flag("failed", "cannot load on cuda:1")
    apply_cross_row_flags([cpu, gpu, broken])
    assert gpu.has_flag("no_faster_than_cpu") and "9 vs 2 ms per query" in gpu.flags[0].message
    assert [f.code for f in broken.flags] == ["failed"]


def test_llm_rows_are_held_against_the_best_cpu_thread_count_of_the_same_quantization() -> None:
    rows = [ResultRow("llm", "cpu", "llama.cpp", "Q4_0", f"{t} threads", metrics={"tg_tokens_per_s": r})
            for t, r in ((1, 30.0), (4, 80.0))]
    rows.append(ResultRow("llm", "cpu", "llama.cpp", "Q8_0", "4 threads", metrics={"tg_tokens_per_s": 200.0}))
    gpu = ResultRow("llm", "cuda:0", "llama.cpp", "Q4_0", "all layers on GPU", metrics={"tg_tokens_per_s": 75.0})
    apply_cross_row_flags([*rows, gpu])
    assert gpu.has_flag("no_faster_than_cpu")
    assert "75 vs 80" in gpu.flags[0].message  # the Q8_0 row is a different question
