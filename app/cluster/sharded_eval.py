"""Labelled-folder evaluation spread over several workers (local or on other nodes), merged exactly.

The folder is dealt out image by image (so every shard sees every class), each shard becomes a small
ImageFolder with *all* class folders (so every worker maps folders to model classes the same way), each
worker runs the vision engine's own ``eval`` on its shard, and the confusion matrices are summed: the
merged matrix, accuracies and per-class scores are those of one worker on the whole folder.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.errors import WorkbenchError
from app.supervisor import EngineClient

MARKER = "_class.txt"  # keeps a class folder that got no image of a shard (and is not an image itself)


class ShardedEvalError(WorkbenchError):
    """A shard could not be evaluated (the message names the device and why)."""


@dataclass(frozen=True)
class Shard:
    """The images one worker evaluates."""

    device: str
    folder: Path
    images: int


def list_labelled(root: Path) -> tuple[list[str], list[tuple[str, Path]]]:
    """Class folder names and (class, image) pairs, in the order the engine's own scan uses."""
    from engines.vision.files import is_image_name

    if not root.is_dir():
        raise ShardedEvalError(f"{root}: not a folder (eval needs one sub-folder per class)")
    class_dirs = sorted((d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")),
                        key=lambda d: d.name)
    images = [(d.name, p) for d in class_dirs for p in sorted(d.rglob("*")) if p.is_file() and is_image_name(p)]
    if not images:
        raise ShardedEvalError(f"{root}: no images in class sub-folders (FOLDER/<class>/<image>)")
    return [d.name for d in class_dirs], images


def make_shards(root: Path, devices: Sequence[str], workdir: Path) -> list[Shard]:
    """One ImageFolder of links per device, images dealt round-robin, every class folder in each."""
    classes, images = list_labelled(root)
    shards = []
    for index, device in enumerate(devices):
        folder = workdir / f"shard-{index}"
        for name in classes:
            (folder / name).mkdir(parents=True, exist_ok=True)
            (folder / name / MARKER).write_text("class folder of a sharded evaluation\n")
        mine = images[index::len(devices)]
        for number, (name, path) in enumerate(mine):
            # Numbered so the order within a class is the original one; a link costs nothing locally and
            # is sent as the file's bytes to a node that cannot see this folder.
            (folder / name / f"{number:07d}-{path.name}").symlink_to(path.resolve())
        shards.append(Shard(device, folder, len(mine)))
    return shards


def merge_results(results: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One evaluation result from the shards' results (confusion matrices summed, scores recomputed)."""
    from engines.vision.evaluation import per_class_scores

    usable = [r for r in results if r.get("evaluated")]
    if not usable:
        raise ShardedEvalError("no shard evaluated any image")
    first = usable[0]
    for other in usable[1:]:
        if other["confusion"]["labels"] != first["confusion"]["labels"] or \
                [c["model_index"] for c in other["per_class"]] != [c["model_index"] for c in first["per_class"]]:
            raise ShardedEvalError("the workers matched the class folders to different model classes "
                                   "(different models or labels on the nodes?)")
    matrix = np.sum([np.asarray(r["confusion"]["matrix"], dtype=np.int64) for r in usable], axis=0)
    evaluated = int(sum(int(r["evaluated"]) for r in usable))
    # A shard's accuracy is hits / evaluated: its hit count is recovered exactly by rounding.
    hits1 = sum(round(float(r["top1"]) * int(r["evaluated"])) for r in usable)
    hits5 = sum(round(float(r["top5"]) * int(r["evaluated"])) for r in usable)
    scores = per_class_scores(matrix)
    per_class = [{**{k: row[k] for k in ("class", "model_index", "model_label")}, **score}
                 for row, score in zip(first["per_class"], scores, strict=True)]
    macro = {key: float(np.mean([s[key] for s in scores])) if scores else 0.0 for key in ("precision", "recall", "f1")}
    errors = [e for r in results for e in r.get("errors", [])]
    return {
        "evaluated": evaluated, "top1": hits1 / evaluated, "top5": hits5 / evaluated,
        "classes": first["classes"], "mapping": first["mapping"],
        "confusion": {"labels": first["confusion"]["labels"], "columns": first["confusion"]["columns"],
                      "matrix": matrix.tolist()},
        "per_class": per_class, "macro": macro, "model": first.get("model"), "backend": first.get("backend"),
        "precision": first.get("precision"), "failed": int(sum(int(r.get("failed", 0)) for r in results)),
        "errors": errors[:200], "preprocess": first.get("preprocess"),
    }


def client_for(engine_id: str, device: str, threads: int | None) -> EngineClient:
    """A worker for ``device``: a local process, or an actor on the node of ``NODE/...``."""
    from app.cluster.remote_client import is_remote_device, start_remote_engine
    from app.supervisor import start_engine

    if is_remote_device(device):
        return start_remote_engine(engine_id, device, threads=threads)
    return start_engine(engine_id, threads=threads)


def sharded_eval(folder: str | Path, devices: Sequence[str], model: str, options: Mapping[str, Any], *,
                 threads: int | None = None, history: Any = None,
                 on_progress: Callable[[str, float, float | None], None] | None = None,
                 cancel: threading.Event | None = None) -> dict[str, Any]:
    """Evaluate ``folder`` over ``devices`` (one worker each) and return the merged result.

    The result has the engine's evaluation keys plus ``shards`` (device, images, seconds, images/s, run id)
    and ``metrics.images_per_s`` over the whole folder. With ``history`` each shard is a recorded run.
    """
    from app.recording import run_recorded

    if not devices or len(set(devices)) != len(devices):
        raise ShardedEvalError("give each device once, e.g. --devices n1/cpu,n2/cpu")
    root = Path(folder).expanduser().resolve()
    cancel = cancel or threading.Event()
    workdir = Path(tempfile.mkdtemp(prefix="workbench-shards-"))
    clients: list[EngineClient] = []
    try:
        shards = make_shards(root, devices, workdir)
        options = dict(options)
        for shard in shards:
            client = client_for("vision", shard.device, threads)
            clients.append(client)
            info = client.load(model, shard.device, options)
            # "auto" measures per machine; every shard must run the same backend for an exact merge.
            options["backend"] = info["backend"]
            options["precision"] = info["precision"]
        outcomes: list[Any] = [None] * len(shards)
        timings: list[float] = [0.0] * len(shards)
        problems: list[str] = [""] * len(shards)

        def run(index: int) -> None:
            shard, client = shards[index], clients[index]

            def on_event(event: Any) -> None:
                from app.messages import Progress

                if isinstance(event, Progress) and on_progress is not None:
                    on_progress(shard.device, event.done, event.total)
                if cancel.is_set():
                    client.cancel(event.request_id)

            own = history
            started = time.perf_counter()
            try:
                if own is None:
                    from app.history import History

                    own = History()
                # A remote client gives the node its own copy of the shard when it cannot see this one.
                outcomes[index] = run_recorded(client, "eval", {"folder": str(shard.folder), "agreement": False},
                                               history=own, engine="vision", device=shard.device,
                                               on_event=on_event, tags=("sharded-eval",))
            except Exception as exc:  # reported with the shard's device below, not lost in a thread
                problems[index] = f"{type(exc).__name__}: {exc}"
            finally:
                timings[index] = time.perf_counter() - started
                if history is None and own is not None:
                    own.close()

        started = time.perf_counter()
        workers = [threading.Thread(target=run, args=(i,), name=f"shard-{i}", daemon=True)
                   for i in range(len(shards))]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        wall = time.perf_counter() - started
        if cancel.is_set():
            raise ShardedEvalError("the evaluation was cancelled")
        for shard, outcome, problem in zip(shards, outcomes, problems, strict=True):
            if outcome is None or not outcome.ok:
                words = problem or ("no answer" if outcome is None else f"{outcome.status.value}: {outcome.error}")
                raise ShardedEvalError(f"shard on {shard.device} ({shard.images} images) did not finish: {words}")
        merged = merge_results([o.result for o in outcomes])
        merged["shards"] = [
            {"device": s.device, "images": s.images, "evaluated": int(o.result["evaluated"]), "seconds": t,
             "images_per_s": float(o.result.get("metrics", {}).get("images_per_s", 0.0)), "run_id": o.run_id}
            for s, o, t in zip(shards, outcomes, timings, strict=True)]
        merged["folder"] = str(root)
        merged["devices"] = list(devices)
        merged["metrics"] = {"images_per_s": merged["evaluated"] / wall if wall > 0 else 0.0, "wall_s": wall,
                             "top1_accuracy": merged["top1"], "top5_accuracy": merged["top5"],
                             "macro_f1": merged["macro"]["f1"], "evaluated": float(merged["evaluated"])}
        return merged
    finally:
        for client in clients:
            client.close()
        shutil.rmtree(workdir, ignore_errors=True)
