"""``workbench classify`` and ``workbench eval``: image classification in the vision worker, recorded.

Each run goes through ``run_recorded`` (history row, per-image latency series, metrics). Ctrl-C cancels
the run between batches and still prints the summary of what was classified.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from app.usecases.classify_export import STAGES
from engines.vision.types import ClassifyRow

BACKENDS = ("auto", "torch", "onnxruntime")
PRECISIONS = ("fp32", "fp16", "int8")


# --- arguments ----------------------------------------------------------------------------------
def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """Model, device, backend and precision flags shared by ``classify`` and ``eval``."""
    parser.add_argument("-m", "--model",
                        help="starter id, registry id, or a .pth/.safetensors/.onnx file or timm model folder "
                             "(default: the model used last, else the starter model)")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda:0, mps, dml:0, ort:<Provider>:0")
    parser.add_argument("--backend", choices=BACKENDS, default="auto",
                        help="torch eager, ONNX Runtime, or auto: the fastest measured here (default)")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32",
                        help="fp32 (default), fp16 (GPUs), int8 (ONNX Runtime quantization)")
    parser.add_argument("--batch", type=int, help="images per inference batch (default 8)")
    parser.add_argument("--threads", type=int, help="inference threads (default: measured physical cores)")
    parser.add_argument("--arch", help="architecture of a bare state dict, e.g. resnet18 (timm name)")
    parser.add_argument("--labels", help="class names file, one a line (default: from the model)")
    parser.add_argument("--calibration", help="folder of images to calibrate int8 with (default: sample photos)")
    parser.add_argument("--decoders", type=int, help="decode threads (default: per the cores, see docs/vision.md)")


def register(subparsers: Any) -> None:
    """Add the ``classify`` and ``eval`` commands."""
    parser = subparsers.add_parser("classify", help="classify images or folders (top-k labels, stage times)")
    parser.add_argument("inputs", nargs="*", metavar="IMAGE_OR_FOLDER",
                        help="image files and folders (walked recursively); default: the sample photos")
    add_model_arguments(parser)
    parser.add_argument("--topk", type=int, default=5, help="labels shown per image (default 5)")
    parser.add_argument("--json", nargs="?", const="-", metavar="OUT", help="write results as JSON (to OUT or stdout)")
    parser.add_argument("--csv", metavar="OUT", help="write one CSV row per image to OUT ('-' for stdout)")
    parser.add_argument("--card", action="store_true", help="print the model card only")
    parser.add_argument("--agreement", action="store_true",
                        help="also compare torch, ONNX Runtime and int8 with the fp32 reference on the images")
    parser.add_argument("-q", "--quiet", action="store_true", help="no per-image lines, only the summary")
    parser.set_defaults(handler=run_classify)

    evaluate = subparsers.add_parser("eval", help="accuracy on a labelled folder (one sub-folder per class)")
    evaluate.add_argument("folder", metavar="FOLDER", help="ImageFolder layout: FOLDER/<class>/<image>")
    add_model_arguments(evaluate)
    evaluate.add_argument("--report", metavar="PATH", help="report path without suffix (default: "
                          "./eval-<model>-<time>)")
    evaluate.add_argument("--format", action="append", choices=("md", "html"), dest="formats",
                          help="report format besides JSON (repeatable; default both)")
    evaluate.add_argument("--agreement", choices=("own", "all", "none"), default="own",
                          help="backends compared with the fp32 reference: own (default), all, none")
    evaluate.add_argument("--json", action="store_true", help="print the result as JSON")
    evaluate.add_argument("--reliability", metavar="PNG", help="also write the reliability diagram to this PNG")
    evaluate.add_argument("--devices", help="split the folder over several workers: NODE/cpu,cpu,... (docs/cluster.md)")
    evaluate.set_defaults(handler=run_eval)


def load_options(args: argparse.Namespace) -> dict[str, Any]:
    """The engine's load options from the flags (unset flags are left to the engine)."""
    options = {"backend": args.backend, "precision": args.precision, "batch": args.batch, "threads": args.threads,
               "arch": args.arch, "labels": args.labels, "calibration": args.calibration,
               "decode_workers": args.decoders}
    return {k: v for k, v in options.items() if v is not None}


# --- the worker ---------------------------------------------------------------------------------
@contextlib.contextmanager
def vision_worker(threads: int | None = None, device: str = "cpu") -> Iterator[Any]:
    """A started vision worker that ignores the terminal's Ctrl-C (this process turns it into a cancel).

    A cluster device (``NODE/cpu``) gets a worker on that node (docs/cluster.md).
    """
    from app.service.model_service import start_local_worker

    with start_local_worker("vision", device, threads) as client:
        yield client


def load_model(client: Any, args: argparse.Namespace) -> Mapping[str, Any] | None:
    """Load the model, printing progress; None (after printing why) when it cannot be loaded."""
    from app.commands.load_report import load_or_report
    from app.default_models import default_model
    from app.messages import Progress

    args.model = args.model or default_model("vision")

    def load() -> Mapping[str, Any]:
        handle = client.submit_load(args.model, args.device, load_options(args))
        for event in handle.events():
            if isinstance(event, Progress) and event.message and event.message not in ("ready", "first run"):
                print(f"  {event.message}...", file=sys.stderr)
        loaded: Mapping[str, Any] = handle.result()
        return loaded

    info = load_or_report("vision", args.model, load)
    if info is not None:
        client.model_info = info
    return info


def describe_model(info: Mapping[str, Any], card: Mapping[str, Any] | None = None) -> str:
    """A few lines on the model and how it runs."""
    lines = []
    kind = "ONNX graph" if info["format"] == "onnx" else f"{info['architecture']}, {info['format']}"
    head = f"model: {info['name']} ({kind}"
    if card:
        head += f", {card['parameters'] / 1e6:.2f} M parameters"
        if card.get("gmacs") is not None:
            head += f", {card['gmacs']:.3f} GMACs"
    head += f", input {'x'.join(str(v) for v in info['input_size'])}, {info['num_classes']} classes)"
    lines.append(head)
    if info.get("reference_top1"):
        ref = info["reference_top1"]
        lines.append(f"reference ImageNet top-1: {ref['value']}% ({ref['source']})")
    run = (f"backend: {info['backend']} {info['precision']} on {info['device']}, {info['threads']} thread(s), "
           f"batch {info['batch']}")
    if info.get("decode_workers"):
        run += (f", {info['decode_workers']} decode thread(s)"
                f"{' at low priority' if info.get('decode_in_background') else ''}")
    auto = info.get("auto")
    if auto:
        timings = ", ".join(f"{k} {v:.1f} ms" for k, v in sorted(auto["timings_ms"].items()))
        run += f" (auto: {'remembered' if auto['remembered'] else 'measured'}"
        run += f" {timings} per batch of {auto['batch']})" if timings else ")"
    lines.append(run)
    fallback = (info.get("backend_details") or {}).get("fallback")
    if fallback:
        lines.append(f"warning: {fallback}")
    lines.append(f"preprocessing: {info['preprocess_summary']}")
    lines += [f"note: {n}" for n in info.get("notes", [])]
    return "\n".join(lines)


# --- output -------------------------------------------------------------------------------------
class ProgressBar:
    """A one-line progress bar on stderr, drawn only on a terminal."""

    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self.stream = stream
        self.enabled = stream.isatty()
        self.drawn = False

    def draw(self, done: float, total: float | None, started: float) -> None:
        """Redraw the bar."""
        if not self.enabled or not total:
            return
        width = 30
        filled = int(width * min(1.0, done / total))
        rate = done / max(1e-9, time.perf_counter() - started)
        self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {int(done)}/{int(total)} "
                          f"{rate:.1f} img/s ")
        self.stream.flush()
        self.drawn = True

    def clear(self) -> None:
        """Erase the bar so a normal line can be printed."""
        if self.drawn:
            self.stream.write("\r" + " " * 70 + "\r")
            self.stream.flush()
            self.drawn = False


def image_line(row: ClassifyRow | Mapping[str, Any]) -> str:
    """One printed line per image (or its error)."""
    if not row.get("ok"):
        return f"{row['path']}: error ({row.get('kind')}): {row.get('error')}"
    labels = " | ".join(f"{t['label']} {100 * t['prob']:.1f}%" for t in row["top"])
    times = row["times_ms"]
    stages = ", ".join(f"{stage} {times[stage]:.1f}" for stage in STAGES)
    notes = f"  [{'; '.join(n for n in row.get('notes', []) if len(n) < 80)}]" if row.get("notes") else ""
    return f"{row['path']}: {labels}  ({stages} ms){notes}"


def summary_from_rows(rows: Sequence[Mapping[str, Any]], wall_s: float) -> dict[str, float]:
    """images/s and latency statistics computed from the per-image rows (used after an interrupt)."""
    from core.metrics import latency_summary

    ok = [r for r in rows if r.get("ok")]
    out: dict[str, float] = {"images": float(len(ok)), "failed": float(len(rows) - len(ok)), "wall_s": wall_s}
    if ok:
        out["images_per_s"] = len(ok) / wall_s if wall_s > 0 else 0.0
        out.update(latency_summary([float(r["latency_ms"]) for r in ok]))
    return out


def summary_text(metrics: Mapping[str, Any], failed: int) -> str:
    """The closing lines of a classify run."""
    if not metrics.get("images"):
        return f"no image classified ({failed} failed)"
    text = (f"{int(metrics['images'])} images classified, {failed} failed, {metrics.get('images_per_s', 0):.1f} "
            f"images/s; latency mean {metrics['latency_mean_ms']:.1f} ms, median {metrics['latency_median_ms']:.1f}, "
            f"p90 {metrics['latency_p90_ms']:.1f}, p99 {metrics['latency_p99_ms']:.1f}")
    if "decode_ms_mean" in metrics:
        text += "\nstage means per image: " + ", ".join(
            f"{stage} {metrics[f'{stage}_ms_mean']:.2f} ms" for stage in STAGES)
    if metrics.get("inference_images_per_s"):
        text += (f"\npure inference rate {metrics['inference_images_per_s']:.1f} images/s; end-to-end is "
                 f"{100 * metrics.get('pipeline_efficiency', 0):.0f}% of it")
    return text


def agreement_table(result: Mapping[str, Any]) -> str:
    """Backends and precisions against the reference, as a table."""
    from app.text_table import format_table

    rows = []
    for row in result["rows"]:
        if "error" in row:
            rows.append((row["backend"], row["precision"], row["device"], "-", "-", "-", row["error"]))
        else:
            rows.append((row["backend"], row["precision"], row["device"], f"{100 * row['top1_agreement']:.0f}%",
                         f"{100 * row['top5_equal']:.0f}%", f"{row['max_prob_diff']:.2e}", row.get("note", "")))
    title = f"agreement with the {result['reference']} reference on {result['images']} images:"
    return title + "\n" + format_table(("backend", "precision", "device", "top-1 agree", "top-5 equal",
                                        "max prob diff", "note"), rows, align_right=(3, 4, 5))


# --- classify -----------------------------------------------------------------------------------
def run_classify(args: argparse.Namespace) -> int:
    """Load the model in a worker, classify, print per-image lines and the summary."""
    from app.history_open import open_history

    inputs = list(args.inputs)
    if not inputs and not args.card:
        from engines.vision.labels import SAMPLE_IMAGES

        inputs = [str(SAMPLE_IMAGES)]
    # With JSON or CSV on stdout, everything else goes to stderr.
    out = sys.stderr if "-" in (args.json, args.csv) else sys.stdout
    with vision_worker(args.threads, args.device) as client:
        info = load_model(client, args)
        if info is None:
            return 1
        card = client.call("card")
        print(describe_model(info, card), file=out)
        if args.card:
            print(json.dumps(card, indent=2, default=str), file=out)
            return 0
        history = open_history()
        try:
            code, rows = _classify(client, history, info, inputs, args, out)
            if code == 0 and args.agreement:
                images = [r["path"] for r in rows if r.get("ok")][:32]
                print(agreement_table(client.call("agreement", {"images": images})), file=out)
            return code
        finally:
            history.close()


def recorded_line(history: Any, run_id: str, more: str = "", *, hint: str = "") -> str:
    """The closing line of a run: its id (and ``hint``) when the history kept it, "not recorded" and why if not."""
    reason = getattr(history, "unrecorded", None)
    if reason:
        return f"not recorded ({reason}){more}"
    return f"recorded as run {run_id[:8]}{hint}{more}"


def _classify(client: Any, history: Any, info: Mapping[str, Any], inputs: list[str], args: argparse.Namespace,
              out: TextIO) -> tuple[int, list[dict[str, Any]]]:
    from app.messages import Partial, Progress
    from app.recording import run_recorded

    rows: list[dict[str, Any]] = []
    bar = ProgressBar()
    started = time.perf_counter()

    def on_event(event: Any) -> None:
        if isinstance(event, Partial):
            row = dict(event.data)
            rows.append(row)
            if not args.quiet or not row.get("ok"):
                bar.clear()
                print(image_line(row), file=out if row.get("ok") else sys.stderr)
        elif isinstance(event, Progress):
            bar.draw(event.done, event.total, started)

    params = {"paths": [str(Path(p).expanduser().resolve()) for p in inputs], "topk": args.topk}
    if args.batch:
        params["batch"] = args.batch
    try:
        outcome = run_recorded(client, "classify", params, history=history, engine="vision",
                               model_id=info["model_id"], device=info["device"], on_event=on_event)
    except KeyboardInterrupt:
        bar.clear()
        metrics = summary_from_rows(rows, time.perf_counter() - started)
        print(f"\ninterrupted: the run was cancelled after {len(rows)} images", file=out)
        print(summary_text(metrics, sum(1 for r in rows if not r.get("ok"))), file=out)
        _write_outputs(rows, {"cancelled": True, "metrics": metrics}, args)
        return 130, rows
    bar.clear()
    if not outcome.ok:
        print(f"error: {outcome.error}", file=sys.stderr)
        return 1, rows
    result = outcome.result or {}
    print(summary_text(result.get("metrics", {}), int(result.get("failed", 0))), file=out)
    print(recorded_line(history, outcome.run_id, hint=f" (workbench history --run {outcome.run_id})"), file=out)
    summary = {k: v for k, v in result.items() if k not in ("series", "results")}
    _write_outputs(rows, summary, args)
    return (0 if result.get("classified") else 1), rows


def _write_outputs(rows: list[dict[str, Any]], summary: Mapping[str, Any], args: argparse.Namespace) -> None:
    from app.usecases.classify_export import write_results

    if args.json:
        write_results(args.json, rows, summary, fmt="json")
    if args.csv:
        write_results(args.csv, rows, summary, fmt="csv", topk=args.topk)


# --- eval ---------------------------------------------------------------------------------------
def run_eval(args: argparse.Namespace) -> int:
    """Evaluate on a labelled folder; print accuracy, per-class scores and confusion; write the reports."""
    from app.history_open import open_history
    from app.messages import Progress
    from app.recording import run_recorded

    if getattr(args, "devices", None):
        from app.commands.eval_sharded import run_sharded_eval_command

        return run_sharded_eval_command(args)
    folder = Path(args.folder).expanduser().resolve()
    with vision_worker(args.threads, args.device) as client:
        info = load_model(client, args)
        if info is None:
            return 1
        print(describe_model(info))
        report = args.report or f"eval-{Path(str(info['name'])).stem}-{time.strftime('%Y%m%d-%H%M%S')}"
        params: dict[str, Any] = {"folder": str(folder), "report": str(Path(report).expanduser().resolve()),
                                  "formats": ["json", *(args.formats or ["md", "html"])],
                                  "agreement": {"own": True, "all": "all", "none": False}[args.agreement]}
        if args.batch:
            params["batch"] = args.batch
        bar = ProgressBar()
        started = time.perf_counter()

        def on_event(event: Any) -> None:
            if isinstance(event, Progress):
                bar.draw(event.done, event.total, started)

        history = open_history()
        try:
            outcome = run_recorded(client, "eval", params, history=history, engine="vision",
                                   model_id=info["model_id"], device=info["device"], on_event=on_event)
        except KeyboardInterrupt:
            bar.clear()
            print("\ninterrupted: evaluation cancelled", file=sys.stderr)
            return 130
        finally:
            history.close()
        bar.clear()
        if not outcome.ok:
            print(f"error: {outcome.error}", file=sys.stderr)
            return 1
        result = outcome.result or {}
        if args.json:
            print(json.dumps({k: v for k, v in result.items() if k != "series"}, indent=2, default=str))
        else:
            print(eval_text(result))
        print(recorded_line(history, outcome.run_id, f"; reports: {', '.join(result.get('report_files', []))}"))
        if args.reliability and result.get("probability"):
            from app.quality.classify_scores import write_reliability_png

            print(f"reliability diagram: {write_reliability_png(result, args.reliability)}")
    return 0


def eval_text(result: Mapping[str, Any]) -> str:
    """Accuracy, per-class table and (for up to 20 classes) the confusion matrix, as text."""
    from app.text_table import format_table

    metrics = result.get("metrics", {})
    lines = [f"{result['evaluated']} images in {len(result['classes'])} classes ({result['mapping']}); "
             f"{result.get('failed', 0)} unreadable",
             f"top-1 accuracy {100 * result['top1']:.2f}%   top-5 accuracy {100 * result['top5']:.2f}%   "
             f"macro F1 {result['macro']['f1']:.4f}   {metrics.get('images_per_s', 0):.1f} images/s", ""]
    rows = [(r["class"], f"{r['precision']:.3f}", f"{r['recall']:.3f}", f"{r['f1']:.3f}", int(r["support"]))
            for r in result["per_class"]]
    lines.append(format_table(("class", "precision", "recall", "F1", "support"), rows, align_right=(1, 2, 3, 4)))
    confusion = result["confusion"]
    if len(confusion["labels"]) <= 20:
        lines += ["", "confusion matrix (rows: true class, columns: predicted):"]
        matrix = [(name, *counts) for name, counts in zip(confusion["labels"], confusion["matrix"], strict=True)]
        lines.append(format_table(("", *confusion["columns"]), matrix,
                                  align_right=tuple(range(1, len(confusion["columns"]) + 1))))
    from app.quality.classify_scores import probability_lines

    probability = probability_lines(result)
    if probability:
        lines += ["", *probability]
    if result.get("agreement"):
        lines += ["", agreement_table(result["agreement"])]
    return "\n".join(lines)


# --- bench vision -------------------------------------------------------------------------------
def register_bench(targets: Any) -> None:
    """Add ``bench vision`` to the ``bench`` command's targets."""
    parser = targets.add_parser("vision", help="inference latency and images/s per batch size and backend")
    add_model_arguments(parser)
    parser.add_argument("--batch-sizes", default="1,8", help="comma-separated batch sizes (default 1,8)")
    parser.add_argument("--backends", default="torch,onnxruntime",
                        help="comma-separated backends to measure (default torch,onnxruntime)")
    parser.add_argument("-r", "--iterations", type=int, default=20, help="timed runs per case (default 20)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs first (default 3)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(handler=run_bench)


def run_bench(args: argparse.Namespace) -> int:
    """Measure with the engine's ``benchmark`` op in a worker, record it, print a table."""
    from app.history_open import open_history
    from app.recording import run_recorded
    from app.text_table import format_table

    params = {"batch_sizes": [int(b) for b in args.batch_sizes.split(",") if b.strip()],
              "backends": [b.strip() for b in args.backends.split(",") if b.strip()],
              "iterations": args.iterations, "warmup": args.warmup, "precision": args.precision}
    with vision_worker(args.threads, args.device) as client:
        info = load_model(client, args)
        if info is None:
            return 1
        print(describe_model(info), file=sys.stderr if args.json else sys.stdout)
        history = open_history()
        try:
            outcome = run_recorded(client, "benchmark", params, history=history, engine="vision",
                                   model_id=info["model_id"], device=info["device"])
        finally:
            history.close()
    if not outcome.ok or outcome.result is None:
        print(f"error: {outcome.error}", file=sys.stderr)
        return 1
    result = outcome.result
    if args.json:
        print(json.dumps({k: v for k, v in result.items() if k != "series"}, indent=2, default=str))
        return 0
    rows = [(r["backend"], r["precision"], r["batch"], f"{r['latency_median_ms']:.2f}", f"{r['latency_p90_ms']:.2f}",
             f"{r['latency_p99_ms']:.2f}", f"{r['images_per_s']:.1f}", f"{r['cold_ms']:.1f}")
            for r in result["rows"]]
    print(format_table(("backend", "precision", "batch", "median ms", "p90 ms", "p99 ms", "images/s", "cold ms"),
                       rows, align_right=(2, 3, 4, 5, 6, 7)))
    print(recorded_line(history, outcome.run_id))
    return 0


# --- demo ---------------------------------------------------------------------------------------
def demo(history: Any) -> None:
    """Classify the sample photos with EfficientNet-Lite0 and compare torch with ONNX Runtime."""
    from app.messages import Partial
    from app.recording import run_recorded
    from engines.vision.labels import sample_images

    photos = sample_images()
    if not photos:
        raise RuntimeError("the sample photos are missing from resources/images")

    def show(event: Any) -> None:
        if isinstance(event, Partial):
            print(image_line({**event.data, "path": Path(str(event.data["path"])).name}))

    from app.default_models import spec_default

    with vision_worker() as client:
        info = client.load(spec_default("vision"), "cpu", {"backend": "auto"})
        print(describe_model(info, client.call("card")))
        outcome = run_recorded(client, "classify", {"paths": [str(p) for p in photos], "topk": 3},
                               history=history, engine="vision", model_id=info["model_id"], device="cpu",
                               on_event=show)
        if not outcome.ok or outcome.result is None:
            raise RuntimeError(f"classification failed: {outcome.error}")
        print(summary_text(outcome.result["metrics"], int(outcome.result.get("failed", 0))))
        result = client.call("agreement", {"combos": [["torch", "fp32"], ["onnxruntime", "fp32"]]})
        print(agreement_table(result))
