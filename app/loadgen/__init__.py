"""Serving benchmark of any OpenAI-compatible endpoint, measured the way ``vllm bench serve`` measures.

Qt-free: the CLI (``workbench bench serve``) and the Compare page both call :func:`run_benchmark` /
:func:`run_sweep` and read :class:`BenchResult`.
"""

from app.loadgen.config import BenchConfig, SweepPoint
from app.loadgen.result import BenchResult
from app.loadgen.runner import BenchProgress, run_benchmark, run_sweep

__all__ = ["BenchConfig", "BenchProgress", "BenchResult", "SweepPoint", "run_benchmark", "run_sweep"]
