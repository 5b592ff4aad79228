"""Planning: which configurations a comparison runs on a given machine."""

from __future__ import annotations

import pytest

from app.compare.plan import CompareSettings, PlanError, build_plan, select_devices, thread_counts
from app.compare.runner import supported_devices
from app.devices import report_to_json
from engines.base import Device

GPU_MACHINE = [
    Device("cpu", "cpu", "cpu", "Test CPU"),
    Device("cuda:0", "gpu", "torch", "NVIDIA H100", "NVIDIA", 80 * 2**30),
    Device("ort:CUDAExecutionProvider:0", "gpu", "onnxruntime", "CUDAExecutionProvider"),
    Device("ort:CPUExecutionProvider:0", "cpu", "onnxruntime", "CPUExecutionProvider"),
    Device("cuda:0", "gpu", "llama.cpp", "NVIDIA H100", "NVIDIA", 80 * 2**30),
]


def _report(devices: list[Device]) -> dict:
    return report_to_json({"cpu": {"model": "Test CPU"}, "devices": devices})


def test_thread_counts_double_up_to_the_cores() -> None:
    assert thread_counts(1) == [1]
    assert thread_counts(2) == [1, 2]
    assert thread_counts(6) == [1, 2, 4, 6]
    assert thread_counts(8) == [1, 2, 4, 8]


def test_select_devices_drops_the_ort_cpu_provider_when_cpu_is_in() -> None:
    ids = ["ort:CPUExecutionProvider:0", "cuda:0", "cpu", "cuda:0"]
    assert select_devices(ids, None) == ["cpu", "cuda:0"]
    assert select_devices(ids, ["ort:CPUExecutionProvider:0"]) == ["ort:CPUExecutionProvider:0"]
    assert select_devices(ids, ["cuda:1"]) == []


def test_a_gpu_machine_plans_offload_fp16_and_the_junction_tree_on_the_gpu() -> None:
    supported, missing = supported_devices(_report(GPU_MACHINE), ("llm", "vision", "bayes"))
    assert missing == {}
    settings = CompareSettings(quantize=("q8_0",))
    plan = build_plan(settings, supported, cores=4, threads=4)
    labels = {c.label for c in plan}
    # LLM: threads 1..4 on the CPU and full offload on the GPU, for the file and the derived Q8_0.
    assert {"llm cpu llama.cpp 1 thread", "llm cpu llama.cpp 4 threads", "llm cuda:0 llama.cpp all layers on GPU",
            "llm cuda:0 llama.cpp Q8_0 all layers on GPU"} <= labels
    # Vision: fp16 only on accelerators, int8 only through ONNX Runtime, the ORT CPU provider not twice.
    assert "vision cuda:0 torch fp16" in labels and "vision cpu torch fp16" not in labels
    assert "vision cpu torch int8" not in labels and "vision cpu onnxruntime int8" in labels
    # ONNX Runtime's CUDA provider is measured once, under the GPU's own id.
    assert "vision cuda:0 onnxruntime fp16" in labels
    assert not any("CPUExecutionProvider" in label for label in labels)
    # Bayes: every method on the CPU, only the junction tree on the GPU (the rest runs on the CPU anyway).
    bayes = sorted(c.label for c in plan if c.workload == "bayes")
    assert bayes == ["bayes cpu numpy float64 gibbs", "bayes cpu numpy float64 jt", "bayes cpu numpy float64 lw",
                     "bayes cpu numpy float64 ve", "bayes cuda:0 torch float64 jt"]
    assert len(labels) == len(plan), "every configuration is distinct"


def test_onnxruntime_is_not_planned_on_a_gpu_it_has_no_provider_for() -> None:
    cpu_only_ort = [d for d in GPU_MACHINE if d.id != "ort:CUDAExecutionProvider:0"]
    supported, _ = supported_devices(_report(cpu_only_ort), ("vision",))
    labels = [c.label for c in build_plan(CompareSettings(workloads=("vision",)), supported, cores=2, threads=1)]
    assert labels == ["vision cpu torch fp32", "vision cpu onnxruntime fp32", "vision cpu onnxruntime int8",
                      "vision cuda:0 torch fp32", "vision cuda:0 torch fp16"]
    # Chosen alone, the provider's own id still runs.
    supported, _ = supported_devices(_report(GPU_MACHINE), ("vision",))
    alone = CompareSettings(workloads=("vision",), devices=("ort:CUDAExecutionProvider:0",),
                            vision_precisions=("fp32",))
    assert [c.label for c in build_plan(alone, supported, cores=2, threads=1)] == [
        "vision ort:CUDAExecutionProvider:0 onnxruntime fp32"]


def test_device_choice_and_filters_narrow_the_plan() -> None:
    supported, _ = supported_devices(_report(GPU_MACHINE), ("vision",))
    settings = CompareSettings(workloads=("vision",), devices=("cuda:0",), vision_precisions=("fp16",))
    assert [c.label for c in build_plan(settings, supported, cores=2, threads=1)] == [
        "vision cuda:0 torch fp16", "vision cuda:0 onnxruntime fp16"]
    with pytest.raises(PlanError, match="no device among"):
        build_plan(CompareSettings(workloads=("llm",), devices=("dml:0",)), supported, cores=2, threads=1)


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"workloads": ("audio",)}, "unknown workload audio"),
    ({"repeat": 0}, "repeat must be at least 1"),
    ({"duration_s": -1.0}, "duration must be above 0"),
    ({"quantize": ("Q3_X",)}, "cannot derive Q3_X"),
    ({"bayes_methods": ("bp",)}, "unknown inference method bp"),
    ({"batch_sizes": (0,)}, "batch sizes"),
    ({"vision_precisions": ("bf16",)}, "unknown bf16"),
    ({"n_prompt": 0, "n_gen": 0}, "not both 0"),
])
def test_bad_settings_are_refused_with_the_reason(kwargs: dict, words: str) -> None:
    with pytest.raises(PlanError, match=words):
        CompareSettings(**kwargs)


def test_settings_survive_a_round_trip_through_plain_data() -> None:
    settings = CompareSettings(workloads=("bayes",), bayes_evidence=(("HISTORY", "TRUE"),), llm_threads=(1, 2))
    data = settings.to_dict()
    assert data["llm_threads"] == [1, 2]
    assert CompareSettings.from_dict({**data, "from_a_future_version": 1}) == settings
    assert settings.repeat_for("bayes") == 10 and CompareSettings(repeat=4).repeat_for("llm") == 4
