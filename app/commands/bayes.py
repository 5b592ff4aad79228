"""``workbench bayes``: Bayesian networks in the bayes worker — info, posteriors, MAP/MPE, value of
information, batches of evidence, and conversion between formats. Every query is recorded in the history.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import sys
from collections.abc import Iterator, Mapping
from typing import Any, cast

from engines.bayes.types import QueryResult

METHODS = ("auto", "jt", "ve", "lw", "gibbs")
DEMO_EVIDENCE = "HRBP=HIGH,BP=LOW,SAO2=LOW,PRESS=HIGH"
DEMO_TARGETS = "LVFAILURE,HYPOVOLEMIA,KINKEDTUBE,INTUBATION,PULMEMBOLUS,ANAPHYLAXIS"


def register(subparsers: Any) -> None:
    """Add the ``bayes`` command group."""
    parser = subparsers.add_parser("bayes", help="Bayesian networks: info, query, MAP/MPE, value of information")
    sub = parser.add_subparsers(dest="bayes_command", metavar="SUBCOMMAND", required=True)

    info = sub.add_parser("info", help="nodes, states, edges, CPT sizes, junction tree and predicted cost")
    _common(info)
    info.add_argument("--nodes", action="store_true", help="also list every node with its states and parents")
    info.set_defaults(handler=run_info)

    query = sub.add_parser("query", help="posterior marginals (all nodes by default), P(evidence), timings")
    _common(query)
    _evidence_flags(query)
    query.add_argument("--target", help="X,Y or all (default all); with --map the nodes to explain")
    query.add_argument("--method", choices=METHODS, default="auto",
                       help="jt: junction tree (auto), ve: variable elimination, lw: likelihood weighting, "
                            "gibbs: Gibbs sampling")
    query.add_argument("--samples", type=int, help="samples for lw / gibbs (default 10000)")
    query.add_argument("--burn-in", type=int, help="Gibbs sweeps discarded per chain (default 200)")
    query.add_argument("--seed", type=int, help="random seed for sampling")
    mode = query.add_mutually_exclusive_group()
    mode.add_argument("--map", action="store_true", help="most probable joint state of --target (MAP)")
    mode.add_argument("--mpe", action="store_true", help="most probable explanation of every node (MPE)")
    query.set_defaults(handler=run_query)

    voi = sub.add_parser("voi", help="rank unobserved nodes by expected entropy reduction of a target")
    _common(voi)
    _evidence_flags(voi)
    voi.add_argument("--target", required=True, help="the node to learn about")
    voi.add_argument("--top", type=int, default=10, help="how many nodes to show (default 10)")
    voi.set_defaults(handler=run_voi)

    batch = sub.add_parser("batch", help="posteriors for many evidence sets at once (CSV: one row per set)")
    _common(batch)
    batch.add_argument("evidence_csv", metavar="CSV", help="header = node names; cells = states (empty: unobserved)")
    batch.add_argument("--target", help="X,Y or all (default all)")
    batch.add_argument("--out", help="write results as CSV to OUT (default: a summary on stdout)")
    batch.set_defaults(handler=run_batch)

    convert = sub.add_parser("convert", help="write the network as BIF or XMLBIF (full float64 precision)")
    _common(convert, json_flag=False)
    convert.add_argument("out", metavar="OUT", help="output file: .bif, .xml or .xmlbif")
    convert.set_defaults(handler=run_convert)

    networks = sub.add_parser("networks", help="the classic networks available offline by name")
    networks.set_defaults(handler=run_networks)


def _common(parser: argparse.ArgumentParser, json_flag: bool = True) -> None:
    parser.add_argument("network", metavar="NET",
                        help="a .bif/.xml/.xdsl/.net/.uai file or a network name (asia, alarm, munin, ...)")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda:0 (exact inference with torch)")
    parser.add_argument("--normalize", action="store_true", help="rescale CPT rows that do not sum to 1")
    parser.add_argument("--max-memory", type=float, metavar="GIB",
                        help="memory the junction tree may use (default: half the free memory)")
    if json_flag:
        parser.add_argument("--json", action="store_true", help="machine-readable output")


def _evidence_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--evidence", "-e", help="hard evidence: A=s1,B=s2")
    parser.add_argument("--soft", help="soft (likelihood) evidence: C=0.2:0.8,D=1:0:0.5")


@contextlib.contextmanager
def bayes_worker() -> Iterator[Any]:
    """A started bayes worker that ignores the terminal's Ctrl-C (this process turns it into a cancel)."""
    from app.supervisor import start_engine

    with start_engine("bayes") as client:
        yield client


def _options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if getattr(args, "normalize", False):
        options["normalize"] = True
    if getattr(args, "max_memory", None):
        options["max_memory_bytes"] = int(args.max_memory * 2**30)
    return options


def _load(client: Any, args: argparse.Namespace) -> Mapping[str, Any] | None:
    from app.commands.load_report import load_or_report

    info = load_or_report("bayes", args.network, lambda: client.load(args.network, args.device, _options(args)))
    if info is not None:
        _warn_cpts(info)
    return info


def _warn_cpts(info: Mapping[str, Any]) -> None:
    warnings = info.get("warnings", [])
    if warnings:
        print(f"note: {len(warnings)} CPT(s) with rows that do not sum exactly to 1, e.g. {warnings[0]} "
              "(all listed by `workbench bayes info`)", file=sys.stderr)


def _recorded(client: Any, op: str, params: Mapping[str, Any], args: argparse.Namespace,
              history: Any = None) -> Mapping[str, Any] | None:
    """Run ``op`` recorded in the history; print the error and return None when it fails."""
    from app.history_open import open_history
    from app.recording import run_recorded

    own = history is None
    store = open_history() if own else history
    try:
        outcome = run_recorded(client, op, dict(params), history=store, engine="bayes",
                               model_id=client.model_info.get("name"), device=args.device)
    finally:
        if own:
            store.close()
    if not outcome.ok:
        print(f"error: {outcome.error}", file=sys.stderr)
        return None
    result: Mapping[str, Any] = outcome.result or {}
    return result


def _evidence_params(args: argparse.Namespace) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if getattr(args, "evidence", None):
        params["evidence"] = args.evidence
    if getattr(args, "soft", None):
        params["soft_evidence"] = args.soft
    return params


# --- commands -----------------------------------------------------------------------------------
def run_info(args: argparse.Namespace) -> int:
    """``bayes info``."""
    with bayes_worker() as client:
        if _load(client, args) is None:
            return 1
        result = client.call("info", {})
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(format_info(result, nodes=args.nodes))
    return 0


def format_info(info: Mapping[str, Any], nodes: bool = False) -> str:
    """Human-readable ``bayes info``."""
    from app.text_table import format_table, human_bytes

    jt, cost = info["junction_tree"], info["predicted_cost"]
    lines = [
        f"network: {info['network']} ({info['path']})",
        f"nodes {info['nodes']}, edges {info['edges']}, states {info['states']}, CPT entries {info['cpt_entries']:,}",
        f"junction tree ({jt['heuristic']}): {jt['cliques']} cliques, treewidth {jt['treewidth']}, largest clique "
        f"{jt['largest_clique_entries']:,} entries ({', '.join(jt['largest_clique'])}), "
        f"{jt['total_entries']:,} entries in all",
        f"exact inference cost: {human_bytes(cost['bytes'])} of tables, ~{cost['multiply_adds_per_query']:,} "
        f"multiply-adds per query; full joint would have 10^{cost['log10_state_space']:.1f} entries",
        f"parse {info['metrics']['parse_s'] * 1000:.1f} ms, compile {info['metrics']['compile_s'] * 1000:.1f} ms",
    ]
    if not info["compiled"]:
        lines.append(f"not compiled: {info['refusal']}")
    lines += [f"warning: {w}" for w in info.get("warnings", [])]
    if nodes:
        rows: list[tuple[Any, ...]] = [
            (n["name"], len(n["states"]), ", ".join(n["states"][:6]) + (" ..." if len(n["states"]) > 6 else ""),
             ", ".join(n["parents"]), n["cpt_entries"]) for n in info["node_list"]]
        lines += ["", format_table(("node", "k", "states", "parents", "CPT"), rows, align_right=(1, 4))]
        cliques = sorted(jt["clique_list"], key=lambda c: -c["entries"])[:10]
        rows = [(c["id"], c["entries"], ", ".join(c["nodes"]), ", ".join(c["separator"])) for c in cliques]
        lines += ["", "largest cliques:", format_table(("id", "entries", "nodes", "separator with parent"), rows,
                                                      align_right=(1,))]
    return "\n".join(lines)


def run_query(args: argparse.Namespace) -> int:
    """``bayes query`` (and ``--map`` / ``--mpe``)."""
    from app.history_open import open_history
    from app.service import ModelService
    from app.usecases.bayes_query import ask, explanation_question, posterior_question

    if args.mpe or args.map:
        question = explanation_question(args.evidence, args.soft,
                                        map_targets=None if args.mpe else args.target)
    else:
        question = posterior_question(args.evidence, args.soft, targets=args.target or "all", method=args.method,
                                      samples=args.samples, burn_in=args.burn_in, seed=args.seed)
    history = open_history()
    try:
        with ModelService(history) as service:
            loaded = service.load("bayes", args.network, device=args.device, options=_options(args)).outcome()
            if not loaded.ok:
                what = "the bayes worker died loading" if loaded.status == "crashed" else "cannot load"
                print(f"error: {what} {args.network}: {loaded.error}", file=sys.stderr)
                return 1
            _warn_cpts(loaded.result or {})
            outcome = ask(service, args.network, question, device=args.device, options=_options(args),
                          model_id=(loaded.result or {}).get("name"))
    finally:
        history.close()
    if not outcome.ok:
        print(f"error: {outcome.error}", file=sys.stderr)
        return 1
    result: Mapping[str, Any] = outcome.result or {}
    if args.json:
        print(json.dumps(result, indent=2))
    elif question.op == "query":
        print(format_query(cast(QueryResult, result)))
    else:
        print(format_explanation(result))
    return 0


def format_query(result: QueryResult) -> str:
    """Posteriors as a table with the most probable state and the whole distribution."""
    from app.text_table import format_table

    stderr = result.get("stderr") or {}
    rows = []
    for node, dist in result["posteriors"].items():
        best = max(dist, key=lambda state: dist[state])
        shown = "  ".join(f"{s}={p:.4f}" for s, p in list(dist.items())[:6]) + ("  ..." if len(dist) > 6 else "")
        se = f"±{max(stderr[node].values()):.4f}" if node in stderr else ""
        rows.append((node, best, f"{dist[best]:.4f}", se, shown))
    headers = ("node", "most probable", "p", "stderr", "distribution") if stderr else \
        ("node", "most probable", "p", "", "distribution")
    metrics = result["metrics"]
    p_e = result.get("p_evidence")
    lines = [format_table(headers, rows, align_right=(2,)), ""]
    lines.append(f"method {result['method']}" + (f", P(evidence) = {p_e:.6g}" if p_e is not None else "")
                 + f", query {metrics['query_s'] * 1000:.2f} ms, compile {metrics.get('compile_s', 0) * 1000:.1f} ms")
    if "samples" in result:
        lines.append(f"{result['samples']:,} samples, {result['effective_samples']:,.0f} effective, "
                     f"max standard error {result['max_stderr']:.4f}")
    for warning in result.get("warnings", []):
        lines.append(f"warning: {warning}")
    return "\n".join(lines)


def format_explanation(result: Mapping[str, Any]) -> str:
    """MAP / MPE assignment with its probabilities."""
    lines = [f"{result['method'].upper()}:"]
    lines += [f"  {node} = {state}" for node, state in result["assignment"].items()]
    lines.append(f"P(assignment, evidence) = {result['p_joint']:.6g}, P(assignment | evidence) = "
                 f"{result['p_posterior']:.6g}, {result['metrics']['query_s'] * 1000:.1f} ms")
    return "\n".join(lines)


def run_voi(args: argparse.Namespace) -> int:
    """``bayes voi``."""
    params = {**_evidence_params(args), "target": args.target, "top": args.top}
    with bayes_worker() as client:
        if _load(client, args) is None:
            return 1
        result = _recorded(client, "voi", params, args)
    if result is None:
        return 1
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    from app.text_table import format_table

    rows = [(r["node"], f"{r['expected_entropy_reduction_bits']:.4f}", f"{r['expected_entropy_after_bits']:.4f}")
            for r in result["ranking"]]
    print(f"target {result['target']}: H = {result['target_entropy_bits']:.4f} bits; posterior "
          + ", ".join(f"{s}={p:.4f}" for s, p in result["posterior"].items()))
    print(format_table(("observe", "expected entropy reduction (bits)", "entropy after (bits)"), rows,
                       align_right=(1, 2)))
    return 0


def read_evidence_csv(path: str) -> list[dict[str, str]]:
    """One evidence set per CSV row; empty cells are unobserved."""
    with open(path, newline="", encoding="utf-8") as handle:
        return [{k.strip(): v.strip() for k, v in row.items() if k and v and v.strip()}
                for row in csv.DictReader(handle)]


def run_batch(args: argparse.Namespace) -> int:
    """``bayes batch``: many evidence sets in one batched propagation."""
    try:
        rows = read_evidence_csv(args.evidence_csv)
    except OSError as exc:
        print(f"error: cannot read {args.evidence_csv}: {exc.strerror}", file=sys.stderr)
        return 2
    if not rows:
        print(f"error: {args.evidence_csv} has no rows", file=sys.stderr)
        return 2
    with bayes_worker() as client:
        if _load(client, args) is None:
            return 1
        result = _recorded(client, "batch_query", {"evidence_batch": rows, "targets": args.target or "all"}, args)
    if result is None:
        return 1
    if args.json:
        print(json.dumps(result))
        return 0
    _write_batch(result, args.out)
    m = result["metrics"]
    print(f"{result['rows']} evidence sets in {m['query_s'] * 1000:.1f} ms ({m['rows_per_s']:,.0f} sets/s); "
          f"impossible rows: {result['impossible_rows'] or 'none'}", file=sys.stderr)
    return 0


def _write_batch(result: Mapping[str, Any], out: str | None) -> None:
    header = ["row", "p_evidence"] + [f"{node}={state}" for node, states in result["states"].items()
                                      for state in states]
    handle = open(out, "w", newline="", encoding="utf-8") if out else sys.stdout  # noqa: SIM115
    try:
        writer = csv.writer(handle)
        writer.writerow(header)
        for r in range(result["rows"]):
            cells: list[Any] = [r, result["p_evidence"][r]]
            for node in result["states"]:
                cells += result["posteriors"][node][r]
            writer.writerow(cells)
    finally:
        if out:
            handle.close()


def run_convert(args: argparse.Namespace) -> int:
    """``bayes convert``."""
    from pathlib import Path

    with bayes_worker() as client:
        if _load(client, args) is None:
            return 1
        from app.errors import RequestFailed

        try:
            result = client.call("write", {"path": str(Path(args.out).resolve())})
        except RequestFailed as exc:
            print(f"error: {exc.message}", file=sys.stderr)
            return 1
    print(f"wrote {result['path']} ({result['format']}, {result['bytes']:,} bytes)")
    return 0


def run_networks(args: argparse.Namespace) -> int:
    """``bayes networks``: the catalogue (a listing of shipped files: no worker, nothing heavy imported)."""
    from app.text_table import format_table
    from engines.bayes.catalogue import listing

    rows = [(n["name"], n["nodes"], n["title"], "yes" if n["available"] else "missing") for n in listing()]
    print(format_table(("name", "nodes", "what it models", "available"), rows, align_right=(1,)))
    return 0


# --- demo ---------------------------------------------------------------------------------------
def demo(history: Any) -> None:
    """ALARM with evidence: posteriors of the diagnoses, the MPE's probability and what to observe next."""
    from app.default_models import spec_default

    args = argparse.Namespace(network=spec_default("bayes"), device="cpu", normalize=False, max_memory=None)
    with bayes_worker() as client:
        info = _load(client, args)
        if info is None:
            raise RuntimeError("could not load the ALARM network")
        jt = info["junction_tree"]
        compile_ms = info["metrics"]["compile_s"] * 1000
        print(f"ALARM: {info['nodes']} nodes, {info['edges']} edges; junction tree of {jt['cliques']} cliques, "
              f"largest {jt['largest_clique_entries']} entries; compiled in {compile_ms:.1f} ms")
        print(f"evidence: {DEMO_EVIDENCE}")
        result = _recorded(client, "query", {"evidence": DEMO_EVIDENCE, "targets": DEMO_TARGETS}, args, history)
        if result is None:
            raise RuntimeError("the ALARM query failed")
        print(format_query(cast(QueryResult, result)))
        mpe = _recorded(client, "mpe", {"evidence": DEMO_EVIDENCE}, args, history)
        if mpe is not None:
            print(f"most probable explanation of all 37 nodes: P = {mpe['p_posterior']:.4g} given the evidence "
                  f"({mpe['metrics']['query_s'] * 1000:.1f} ms)")
        voi = _recorded(client, "voi", {"evidence": DEMO_EVIDENCE, "target": "LVFAILURE", "top": 3}, args, history)
        if voi is not None:
            best = ", ".join(f"{r['node']} ({r['expected_entropy_reduction_bits']:.3f} bits)" for r in voi["ranking"])
            print(f"to learn most about LVFAILURE, observe next: {best}")


