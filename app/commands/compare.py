"""``workbench compare``: one workload across every device, backend, precision and quantization."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

_FORMATS = ("md", "csv", "json", "sqlite")


def _csv_list(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _int_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in _csv_list(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected whole numbers separated by commas, not {text!r}") from None


def _float_list(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(part) for part in _csv_list(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, not {text!r}") from None


def register(subparsers: Any) -> None:
    """Add the ``compare`` command."""
    parser = subparsers.add_parser(
        "compare", help="compare devices, backends, precisions and quantizations on one workload",
        description="Runs one workload definition across every selected device / backend / precision / "
                    "quantization, each in its own worker process; keeps cold and warm numbers apart, stores "
                    "every sample with the machine fingerprint, and flags silent CPU fallbacks and answers "
                    "that differ from the fp32 CPU reference.")
    parser.add_argument("--workload", help="llm, vision, bayes, endpoint, a comma list, or all (the default, "
                                           "except with --import alone, which shows the import beside the latest "
                                           "comparison; with --endpoints alone, just the endpoints)")
    parser.add_argument("--devices", default="all", help="all (default) or device ids: cpu,cuda:0,...")
    parser.add_argument("--model", help="the model of the chosen workload (with one workload)")
    parser.add_argument("--llm-model", help="GGUF path or id (default: the LLM engine's default model)")
    parser.add_argument("--vision-model", help="classifier path or id (default: the vision engine's default model)")
    parser.add_argument("--network", help="Bayesian network file or name (default alarm)")
    parser.add_argument("-r", "--repeat", type=int, help="measured repetitions (default llm 3, vision 20, bayes 10)")
    parser.add_argument("--duration", type=float, metavar="S", help="measure each test for S seconds instead")
    parser.add_argument("--warmup", type=int, default=2, help="vision/bayes warm-up runs (default 2)")
    parser.add_argument("--threads", type=_int_list, help="LLM CPU thread counts, e.g. 1,2,4 (default 1..cores)")
    parser.add_argument("--quantize", type=_csv_list, default=(),
                        help="also derive these quantizations locally (e.g. Q8_0,Q4_0) and compare them")
    parser.add_argument("-p", "--n-prompt", type=int, default=512, help="LLM prompt tokens (pp, default 512)")
    parser.add_argument("-n", "--n-gen", type=int, default=128, help="LLM generated tokens (tg, default 128)")
    parser.add_argument("--batch-sizes", type=_int_list, default=(1, 2, 4, 8), help="vision batch sizes (1,2,4,8)")
    parser.add_argument("--backends", type=_csv_list, help="vision backends: torch,onnxruntime (default both)")
    parser.add_argument("--precisions", type=_csv_list, help="vision precisions: fp32,fp16,int8")
    parser.add_argument("--methods", type=_csv_list, help="bayes methods: jt,ve,lw,gibbs (default all)")
    parser.add_argument("--samples", type=int, default=10_000, help="samples per lw/gibbs query (default 10000)")
    parser.add_argument("--endpoints", type=_csv_list, default=(), metavar="URL[=MODEL],...",
                        help="OpenAI-compatible servers to measure under load beside the local devices (model: "
                             "the first of /v1/models when left out; API key from WORKBENCH_ENDPOINT_API_KEY "
                             "or OPENAI_API_KEY)")
    parser.add_argument("--endpoint-concurrency", type=_int_list, default=(1, 4),
                        help="concurrency caps per endpoint (default 1,4)")
    parser.add_argument("--endpoint-rates", type=_float_list, default=(), metavar="R,…",
                        help="also measure each endpoint at these arrival rates (req/s, Poisson, no cap)")
    parser.add_argument("--endpoint-goodput", default="", metavar="ttft:MS,tpot:MS,e2el:MS",
                        help="SLOs of the endpoints' goodput column (requests/s within every SLO)")
    parser.add_argument("--endpoint-prompts", type=int, default=8, help="requests per endpoint point (default 8)")
    parser.add_argument("--endpoint-lengths", type=_int_list, default=(64, 16), metavar="IN,OUT",
                        help="prompt and answer tokens per endpoint request (default 64,16)")
    for fmt in _FORMATS:
        parser.add_argument(f"--{fmt}", metavar="OUT", help=f"write the results as {fmt} to OUT ('-' = stdout)")
    parser.add_argument("--pareto", metavar="PNG", help="write the speed x quality scatter (Pareto front marked) "
                        "here; with one workload of several, PNG gets the workload's name before its suffix")
    parser.add_argument("--import", dest="imports", action="append", default=[], metavar="FILE",
                        help="compare with another machine's export (JSON, CSV or SQLite); repeatable")
    parser.add_argument("--show", metavar="SESSION", help="show (or export) a stored comparison instead of running")
    parser.add_argument("--list", action="store_true", help="list stored comparisons")
    parser.add_argument("--plan", action="store_true", help="print the configurations and exit")
    parser.set_defaults(handler=run)


def settings_from_args(args: argparse.Namespace) -> Any:
    """The comparison settings the arguments describe (raises PlanError with the reason)."""
    from app.compare.plan import WORKLOADS, CompareSettings, PlanError

    workloads = WORKLOADS if args.workload in (None, "all") else _csv_list(args.workload)
    if args.endpoints and args.workload is None:
        workloads = ("endpoint",)  # --endpoints alone measures just them; add --workload llm,... for both
    elif args.endpoints and "endpoint" not in workloads:
        workloads = (*workloads, "endpoint")
    if len(args.endpoint_lengths) != 2:
        raise PlanError(f"--endpoint-lengths is IN,OUT, not {','.join(map(str, args.endpoint_lengths))}")
    models = {"llm_model": args.llm_model, "vision_model": args.vision_model, "bayes_network": args.network}
    if args.model:
        if len(workloads) != 1:
            raise PlanError("--model needs one --workload; use --llm-model, --vision-model or --network")
        key = {"llm": "llm_model", "vision": "vision_model", "bayes": "bayes_network"}.get(workloads[0])
        if key is None:
            raise PlanError("--model does not apply to endpoints; give them as URL=MODEL")
        models[key] = args.model
    chosen = {k: v for k, v in models.items() if v}
    return CompareSettings(
        workloads=workloads, devices=None if args.devices == "all" else _csv_list(args.devices),
        repeat=args.repeat, duration_s=args.duration, warmup=args.warmup, llm_threads=args.threads,
        quantize=tuple(q.upper() for q in args.quantize), n_prompt=args.n_prompt, n_gen=args.n_gen,
        batch_sizes=args.batch_sizes, vision_backends=args.backends, vision_precisions=args.precisions,
        bayes_methods=args.methods or CompareSettings().bayes_methods, bayes_samples=args.samples,
        endpoints=args.endpoints, endpoint_concurrency=args.endpoint_concurrency,
        endpoint_prompts=args.endpoint_prompts, endpoint_input_len=args.endpoint_lengths[0],
        endpoint_output_len=args.endpoint_lengths[1], endpoint_rates=args.endpoint_rates,
        endpoint_goodput=args.endpoint_goodput, **chosen,
    )


def _print_event(event: Any) -> None:
    from app.compare.events import ConfigDone, ConfigStarted, PlanReady

    if isinstance(event, PlanReady):
        print(f"comparison {event.session_id[:12]}: {len(event.configs)} configurations", file=sys.stderr)
    elif isinstance(event, ConfigStarted):
        print(f"[{event.index + 1}/{event.total}] {event.config.label} ...", file=sys.stderr, flush=True)
    elif isinstance(event, ConfigDone):
        row = event.row
        words = row.status if row.ok else f"{row.status}: " + "; ".join(f.message for f in row.flags
                                                                        if f.code in ("failed", "cancelled"))
        print(f"    {words}", file=sys.stderr, flush=True)


def _show_tables(sessions: list[Any]) -> None:
    from app.compare.table import build_tables
    from app.text_table import format_table

    for table in build_tables(sessions):
        print(f"\n{table.title}")
        print(format_table(table.headers, table.rows, table.numeric))
        for note in table.notes:
            print(f"  note: {note}")


def _show_pareto(sessions: list[Any], target: str | None) -> None:
    """Print each workload's speed x quality front and write its PNG (to ``target`` or the data folder)."""
    from app.compare.pareto_chart import pareto_markdown, speed_quality, write_pareto_png
    from core.paths import cache_dir

    charts = [c for c in (speed_quality(sessions, w) for w in ("llm", "vision", "bayes")) if c is not None]
    for chart in charts:
        if target:
            path = Path(target)
            path = path.with_name(f"{path.stem}-{chart.workload}{path.suffix or '.png'}") if len(charts) > 1 \
                else path
        else:
            path = cache_dir("compare-charts") / f"{sessions[0].id[:12]}-{chart.workload}-pareto.png"
        print(f"\nSpeed x quality ({chart.workload}): {chart.axes.quality_label}")
        print(pareto_markdown(chart))
        print(f"  scatter with the Pareto front: {write_pareto_png(chart, path)}")


def _list(store: Any) -> int:
    import datetime as dt

    from app.text_table import format_table

    sessions = store.sessions()
    if not sessions:
        print("no comparisons stored yet")
        return 0
    rows = [(s.id[:12], dt.datetime.fromtimestamp(s.created_at).strftime("%Y-%m-%d %H:%M"), s.workload, s.status,
             len(store.results(s.id)), s.machine_label, s.source) for s in sessions]
    print(format_table(("session", "when", "workloads", "status", "rows", "machine", "source"), rows, (4,)))
    return 0


def _write_outputs(args: argparse.Namespace, sessions: list[Any], history: Any) -> None:
    from app.compare.export import to_csv, to_json, to_markdown, write_export

    for fmt in _FORMATS:
        target = getattr(args, fmt)
        if not target:
            continue
        if target == "-":
            if fmt == "sqlite":
                raise ValueError("a SQLite export needs a file name")
            sys.stdout.write({"md": to_markdown, "csv": to_csv, "json": to_json}[fmt](sessions))
        else:
            write_export(sessions, Path(target), fmt, source=history)
            print(f"wrote {target}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    """Run (or show) a comparison and print or export it."""
    from app.compare.importing import ImportFailed, import_file
    from app.compare.plan import PlanError
    from app.compare.store import CompareStore
    from app.history_open import open_history

    history = open_history()
    store = CompareStore(history)
    ran_badly = False
    try:
        if args.list:
            return _list(store)
        try:
            imported = [s for path in args.imports for s in import_file(store, Path(path))]
        except ImportFailed as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        if args.show:
            try:
                sessions = [store.session(args.show)]
            except KeyError:
                print(f"error: no stored comparison {args.show!r} (see workbench compare --list)", file=sys.stderr)
                return 2
        elif args.imports and args.workload is None:
            latest = [x for x in store.sessions() if not x.imported][:1]
            sessions = [store.session(latest[0].id)] if latest else []
        else:
            try:
                settings = settings_from_args(args)
            except PlanError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            code, ran = _run(settings, history, plan_only=args.plan)
            if ran is None:
                return code
            sessions = [ran]
            ran_badly = ran.status != "ok"
        sessions += imported
        if not sessions:
            print("nothing to show", file=sys.stderr)
            return 1
        stdout_taken = any(getattr(args, f) == "-" for f in _FORMATS)
        if not stdout_taken:
            _show_tables(sessions)
            _show_pareto(sessions, args.pareto)
        try:
            _write_outputs(args, sessions, history)
        except (OSError, ValueError) as exc:
            print(f"error: cannot write the export: {exc}", file=sys.stderr)
            return 1
        return 0 if not ran_badly else 1
    finally:
        history.close()


def _run(settings: Any, history: Any, plan_only: bool) -> tuple[int, Any]:
    from app.compare.plan import PlanError
    from app.compare.runner import CompareRunner

    runner = CompareRunner(settings, history, on_event=_print_event)
    try:
        plan = runner.prepare()
    except PlanError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2, None
    if plan_only:
        for config in plan:
            print(config.label)
        runner.store.delete_session(runner.session_id or "")
        return 0, None
    session = runner.run()
    return (0 if session.status == "ok" else 1), session
