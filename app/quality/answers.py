"""Answer quality: greedy answers to the shipped questions, scored against reference answers.

Each question goes to the model's ``chat`` op with temperature 0 and a fixed seed (so a rerun gives the same
answers), the answers are scored with BLEU and ROUGE-L (:mod:`app.quality.text_scores`), and with a judge
model each answer also gets a 1-5 grade from that model following ``resources/quality/judge_rubric.md``.
The grade is the judge model's opinion, labelled with its name wherever it is shown. The whole set is one
run in the history (op ``answers``) with the scores as metrics and every answer in its result.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.quality.llm_quality import QualityError

if TYPE_CHECKING:
    from app.history import History
    from app.supervisor import EngineClient

RESOURCES = Path(__file__).resolve().parents[2] / "resources" / "quality"
DEFAULT_SET = RESOURCES / "answers.json"
RUBRIC = RESOURCES / "judge_rubric.md"
_GRADE = re.compile(r"\b([1-5])\b")


@dataclass(frozen=True)
class AnswerItem:
    """One question with its reference answer."""

    id: str
    prompt: str
    reference: str


@dataclass
class AnswerRequest:
    """Whose answers to score, on which set, and whether a judge model grades them."""

    model: str
    judge: str | None = None
    set_path: Path = DEFAULT_SET
    max_tokens: int = 64
    seed: int = 42
    device: str = "cpu"
    threads: int | None = None
    limit: int | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class AnswerReport:
    """The recorded run: per-item answers and scores, and the set's scores."""

    run_id: str
    model: str
    items: list[dict[str, Any]]
    scores: dict[str, Any]
    judge: dict[str, Any] | None = None


def load_answer_set(path: Path = DEFAULT_SET) -> tuple[str, list[AnswerItem]]:
    """The set's name and items; a malformed file is a QualityError naming what is wrong."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        items = [AnswerItem(str(i["id"]), str(i["prompt"]), str(i["reference"])) for i in data["items"]]
    except FileNotFoundError as exc:
        raise QualityError(f"no answer set {path}") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise QualityError(f"{path.name} is not an answer set (expected items with id, prompt, reference): "
                           f"{exc}") from exc
    if not items:
        raise QualityError(f"{path.name} has no items")
    return str(data.get("name", path.stem)), items


def judge_prompt(rubric: str, item: AnswerItem, answer: str) -> str:
    """The message the judge model gets for one answer."""
    return (f"{rubric.strip()}\n\nQuestion: {item.prompt}\nReference answer: {item.reference}\n"
            f"Answer to grade: {answer.strip() or '(no answer)'}\n\nScore:")


def parse_grade(text: str) -> int | None:
    """The first 1-5 digit standing alone in the judge's reply, or None when it gave no grade."""
    match = _GRADE.search(text)
    return int(match.group(1)) if match else None


def _ask(client: EngineClient, prompt: str, request: AnswerRequest, max_tokens: int) -> str:
    from app.recording import run_unrecorded

    outcome = run_unrecorded(client, "chat", {"prompt": prompt, "temperature": 0.0, "seed": request.seed,
                                              "max_tokens": max_tokens, "stream": False})
    if not outcome.ok or outcome.result is None:
        raise QualityError(f"the model did not answer: {outcome.error}")
    return str(outcome.result.get("text", ""))


def _with_model(ref: str, request: AnswerRequest, work: Callable[[EngineClient], Any]) -> Any:
    from app.errors import EngineDeadError, RequestFailed
    from app.supervisor import start_engine

    with start_engine("llm", threads=request.threads) as client:
        try:
            client.load(ref, request.device, {"n_ctx": 1024, **request.options})
        except (RequestFailed, EngineDeadError) as exc:
            raise QualityError(f"cannot load {ref}: {exc}") from exc
        return work(client)


def measure_answers(request: AnswerRequest, history: History, *, compare_id: str | None = None,
                    tags: Sequence[str] = (), on_progress: Callable[[int, int, str], None] | None = None,
                    ) -> AnswerReport:
    """Answer, score and (optionally) judge the whole set as one recorded run."""
    from app.model_refs import UnknownModel, resolve_model_ref
    from app.recording import file_fingerprint

    set_name, items = load_answer_set(request.set_path)
    items = items[: request.limit] if request.limit else items
    try:
        path = resolve_model_ref(request.model, "llm")
        if request.judge:
            resolve_model_ref(request.judge, "llm")
    except UnknownModel as exc:
        raise QualityError(str(exc)) from exc
    params = {"set": set_name, "items": len(items), "max_tokens": request.max_tokens, "seed": request.seed,
              "temperature": 0.0, "judge": request.judge}
    run_id = history.start_run(engine="llm", kind="llm", op="answers", model_id=request.model,
                               model_hash=file_fingerprint(path), model_path=str(path), device=request.device,
                               params=params, compare_id=compare_id, tags=tags)
    total = len(items) * (2 if request.judge else 1)

    def progress(done: int, message: str) -> None:
        if on_progress is not None:
            on_progress(done, total, message)

    try:
        def answer_all(client: EngineClient) -> list[str]:
            out = []
            for index, item in enumerate(items):
                progress(index, f"answering {item.id}")
                out.append(_ask(client, item.prompt, request, request.max_tokens))
            return out

        answers: list[str] = _with_model(request.model, request, answer_all)
        scores = overlap_scores_for(answers, items)
        rows = [{"id": item.id, "prompt": item.prompt, "reference": item.reference, "answer": answer, **per}
                for item, answer, per in zip(items, answers, scores.pop("per_item"), strict=True)]
        judged = _judge(request, items, answers, rows, progress) if request.judge else None
    except BaseException as exc:
        status = "cancelled" if isinstance(exc, KeyboardInterrupt) else "failed"
        history.finish_run(run_id, status, error=str(exc) or type(exc).__name__)
        raise
    metrics = {"bleu": scores["bleu"], "rouge_l": scores["rouge_l"], "sentence_bleu_mean":
               scores["sentence_bleu_mean"], "items": float(len(items))}
    if judged is not None and judged["mean"] is not None:
        metrics["judge_mean"] = judged["mean"]
    history.finish_run(run_id, "ok", metrics=metrics,
                       result={"set": set_name, "scores": scores, "judge": judged, "items": rows})
    progress(total, "done")
    return AnswerReport(run_id, request.model, rows, scores, judged)


def overlap_scores_for(answers: Sequence[str], items: Sequence[AnswerItem]) -> dict[str, Any]:
    """BLEU / ROUGE-L of the answers against the items' references."""
    from app.quality.text_scores import overlap_scores

    return overlap_scores(answers, [item.reference for item in items])


def _judge(request: AnswerRequest, items: Sequence[AnswerItem], answers: Sequence[str],
           rows: list[dict[str, Any]], progress: Callable[[int, str], None]) -> dict[str, Any]:
    rubric = RUBRIC.read_text(encoding="utf-8")
    judge = str(request.judge)

    def grade_all(client: EngineClient) -> list[int | None]:
        grades = []
        for index, (item, answer) in enumerate(zip(items, answers, strict=True)):
            progress(len(items) + index, f"judge grading {item.id}")
            grades.append(parse_grade(_ask(client, judge_prompt(rubric, item, answer), request, 4)))
        return grades

    grades: list[int | None] = _with_model(judge, request, grade_all)
    for row, grade in zip(rows, grades, strict=True):
        row["judge_grade"] = grade
    given = [g for g in grades if g is not None]
    return {"model": judge, "kind": "opinion of a language model, not a measurement",
            "rubric": str(RUBRIC.name), "mean": sum(given) / len(given) if given else None,
            "graded": len(given), "no_grade": len(grades) - len(given)}
