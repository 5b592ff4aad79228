"""Quality beside speed in a real comparison: KL / Δ-PPL per derived quantization, the Pareto front."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from app.compare.export import to_markdown
from app.compare.llm_quality import precision_rank, reference_quant
from app.compare.pareto_chart import pareto_markdown, speed_quality, write_pareto_png
from app.compare.table import build_tables
from tests.app.compare.compare_support import SmallRun


def test_the_most_precise_file_is_the_reference() -> None:
    assert reference_quant("Q4_1", ("Q8_0", "Q4_0")) == "Q8_0"
    assert reference_quant("F16", ("Q8_0",)) == ""  # the source itself
    assert precision_rank("Q8_0") < precision_rank("Q4_K_M") < precision_rank("Q2_K") < precision_rank("IQ1_S")


# The shared small comparison may start here: on a busy 2-core machine it needs more than the default 300 s.
@pytest.mark.timeout(900)
def test_each_quantization_gets_its_quality_measured_in_the_same_run(small_run: SmallRun, tmp_path: Path) -> None:
    rows = [r for r in small_run.rows("llm") if r.ok]
    by_quant = {r.precision: r for r in rows}
    assert {"Q4_1", "Q8_0"} <= set(by_quant)  # the starter's own file and the derived Q8_0
    reference = by_quant["Q8_0"]
    assert reference.has_flag("quality_reference")
    assert reference.metrics["kld_mean"] == pytest.approx(0.0, abs=1e-6)
    assert reference.metrics["same_top_pct"] == 100.0
    source = by_quant["Q4_1"]
    assert source.metrics["kld_mean"] > 0
    assert source.metrics["ppl_base"] == pytest.approx(reference.metrics["ppl"], rel=1e-5)
    quality_runs = [r for r in small_run.history.runs(compare_id=small_run.session.id) if r["op"] == "quality"]
    assert len(quality_runs) == 3  # the reference written once, then each file compared once
    table = next(t for t in build_tables([small_run.session]) if t.workload == "llm")
    column = table.headers.index("KL mean / p99")
    assert all(cells[column] != "-" for cells in table.rows)
    chart = speed_quality([small_run.session], "llm")
    assert chart is not None and any(chart.front)
    assert "| Pareto front |" in pareto_markdown(chart)
    assert "Speed x quality" in to_markdown([small_run.session])
    with Image.open(write_pareto_png(chart, tmp_path / "pareto.png")) as image:
        assert image.size[0] > 0
    bayes = speed_quality([small_run.session], "bayes")
    assert bayes is not None and len(bayes.points) == len([r for r in small_run.rows("bayes") if r.ok])
