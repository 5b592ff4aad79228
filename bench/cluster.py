"""What the cluster path costs: per-request overhead of the remote client, event transports, sharded eval.

All on this machine, with ``ray.cluster_utils.Cluster`` (a head "n1" and a node "n2", 1 CPU each, token
auth on), so the network is loopback and the two "nodes" share the machine's cores.

  (1) Overhead per request: the same request through a local worker process (``start_engine``) and
      through a ``RemoteClient`` (Ray actor on n1): a Bayes query (asia, junction tree) and a one-image
      classify (EfficientNet-Lite0, ONNX Runtime, 1 thread). Requests alternate between the two clients;
      medians of submit-to-result wall time. Target: remote median <= local median + 5 ms.
  (2) Event transport: a bare actor answering a request with 1 or 200 events, read back through (a) the
      long poll the client uses (one actor call returns every queued event) and (b) a
      ``ray.util.queue.Queue`` actor the engine actor pushes into.
  (3) Sharded evaluation: images/s of ``sharded_eval`` over a generated labelled folder on n1 alone and on
      n1 + n2.

Usage: python bench/cluster.py [--reps 30] [--images 48] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("WORKBENCH_HOME", tempfile.mkdtemp(prefix="workbench-bench-cluster-"))
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "resources" / "images"


def start_cluster() -> Any:
    """Two 1-CPU nodes with token auth, this process connected."""
    from ray.cluster_utils import Cluster

    from app.cluster.connection import connect
    from app.cluster.ray_env import NODE_RESOURCE_PREFIX, apply_auth_environment

    apply_auth_environment(secrets.token_hex(32))

    def args(name: str) -> dict[str, Any]:
        return {"num_cpus": 1, "resources": {NODE_RESOURCE_PREFIX + name: 1}, "object_store_memory": 100 * 2**20,
                "include_dashboard": False}

    cluster = Cluster(initialize_head=True, connect=False, head_node_args=args("n1"))
    cluster.add_node(**args("n2"))
    cluster.wait_for_nodes()
    connect(cluster.address, save=False)
    return cluster


def timed(client: Any, op: str, params: dict[str, Any]) -> float:
    """Milliseconds from submit to the result in this process."""
    started = time.perf_counter()
    client.call(op, params, timeout=120)
    return (time.perf_counter() - started) * 1000


def overhead(reps: int) -> dict[str, Any]:
    """(1): local worker vs remote client, alternating, per workload."""
    from app.cluster.remote_client import start_remote_engine
    from app.supervisor import start_engine

    image = str(SAMPLES / "chelsea.jpg")
    cases = {
        "bayes query (asia, jt)": ("bayes", "asia", {}, "query", {"evidence": "xray=yes,dysp=yes", "method": "jt"}),
        "classify 1 image (EfficientNet-Lite0, ORT)": (
            "vision", "efficientnet-lite0", {"backend": "onnxruntime", "threads": 1}, "classify",
            {"paths": [image], "topk": 5}),
    }
    out: dict[str, Any] = {}
    for name, (engine, model, options, op, params) in cases.items():
        with start_engine(engine, threads=1) as local, start_remote_engine(engine, "n1/cpu", threads=1) as remote:
            local.load(model, "cpu", options)
            remote.load(model, "n1/cpu", options)
            for client in (local, remote):  # warm-up: first-run allocations, Ray's worker connections
                for _ in range(3):
                    timed(client, op, params)
            local_ms: list[float] = []
            remote_ms: list[float] = []
            for rep in range(reps):
                order = (local, remote) if rep % 2 == 0 else (remote, local)
                for client in order:
                    (local_ms if client is local else remote_ms).append(timed(client, op, params))
        out[name] = {"local_median_ms": statistics.median(local_ms), "remote_median_ms": statistics.median(remote_ms),
                     "delta_median_ms": statistics.median(remote_ms) - statistics.median(local_ms),
                     "local_p90_ms": sorted(local_ms)[int(0.9 * len(local_ms))],
                     "remote_p90_ms": sorted(remote_ms)[int(0.9 * len(remote_ms))], "reps": reps}
    return out


class Streamer:
    """A bare actor that answers with ``n`` events through a long poll or through a Ray queue."""

    def __init__(self, queue: Any) -> None:
        import threading

        self._queue = queue
        self._events: list[int] = []
        self._cond = threading.Condition()

    def submit(self, n: int, via_queue: bool) -> None:
        """Produce n events (on a thread, as the engine does)."""
        import threading

        def produce() -> None:
            for i in range(n):
                if via_queue:
                    self._queue.put(i)
                else:
                    with self._cond:
                        self._events.append(i)
                        self._cond.notify_all()

        threading.Thread(target=produce, daemon=True).start()

    def poll(self, timeout: float) -> list[int]:
        """Every event queued since the last poll (waiting for the first)."""
        with self._cond:
            self._cond.wait_for(lambda: bool(self._events), timeout)
            batch, self._events = self._events, []
            return batch


def transports(reps: int) -> dict[str, Any]:
    """(2): long poll vs ray.util.queue.Queue, for 1 and 200 events per request."""
    import ray
    from ray.util.queue import Queue

    queue = Queue()
    actor = ray.remote(Streamer).options(max_concurrency=4, num_cpus=0).remote(queue)
    out: dict[str, Any] = {}
    for n in (1, 200):
        for via_queue in (False, True):
            samples = []
            for rep in range(reps + 3):
                started = time.perf_counter()
                ray.get(actor.submit.remote(n, via_queue))
                got = 0
                while got < n:
                    if via_queue:
                        queue.get(timeout=30)
                        got += 1
                    else:
                        got += len(ray.get(actor.poll.remote(1.0)))
                if rep >= 3:
                    samples.append((time.perf_counter() - started) * 1000)
            out[f"{n} event(s), {'ray.util.queue.Queue' if via_queue else 'long poll'}"] = {
                "median_ms": statistics.median(samples), "reps": reps}
    ray.kill(actor)
    queue.shutdown()
    return out


def labelled_folder(root: Path, images: int) -> Path:
    """``images`` photos in two ImageNet classes (the samples, mirrored and cropped into variants)."""
    from PIL import Image, ImageOps

    sources = {"tabby": ["chelsea.jpg", "astronaut.jpg"], "espresso": ["coffee.jpg", "rocket.jpg"]}
    made = 0
    while made < images:
        for name, files in sources.items():
            folder = root / name
            folder.mkdir(parents=True, exist_ok=True)
            for file in files:
                if made >= images:
                    break
                image = Image.open(SAMPLES / file).convert("RGB")
                shrink = 1 + made // 8
                w, h = image.size
                image = image.crop((shrink, shrink, w - shrink, h - shrink))
                if made % 2:
                    image = ImageOps.mirror(image)
                image.save(folder / f"{made:04d}-{file}", quality=90)
                made += 1
    return root


def sharded(images: int) -> dict[str, Any]:
    """(3): sharded eval on one node and on two."""
    from app.cluster.sharded_eval import sharded_eval
    from app.history import History

    folder = labelled_folder(Path(tempfile.mkdtemp(prefix="bench-labelled-")), images)
    options = {"backend": "onnxruntime", "threads": 1}
    out: dict[str, Any] = {}
    history = History(":memory:")
    try:
        matrices = []
        for devices in (["n1/cpu"], ["n1/cpu", "n2/cpu"], ["n1/cpu"], ["n1/cpu", "n2/cpu"]):
            result = sharded_eval(folder, devices, "efficientnet-lite0", options, threads=1, history=history)
            key = f"{len(devices)} node(s)"
            out.setdefault(key, {"images_per_s": [], "per_device": []})
            out[key]["images_per_s"].append(result["metrics"]["images_per_s"])
            out[key]["per_device"].append({s["device"]: round(s["images_per_s"], 2) for s in result["shards"]})
            matrices.append(result["confusion"]["matrix"])
        out["identical_confusion"] = all(m == matrices[0] for m in matrices)
    finally:
        history.close()
    out["images"] = images
    return out


def main() -> int:
    """Run the three parts and print (or dump) the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--images", type=int, default=48)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from app.cluster.connection import disconnect

    cluster = start_cluster()
    try:
        results = {"cpus": os.cpu_count(), "overhead": overhead(args.reps), "transport": transports(args.reps),
                   "sharded_eval": sharded(args.images)}
    finally:
        disconnect()
        cluster.shutdown()
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"machine: {results['cpus']} logical CPUs; 2 Ray nodes of 1 CPU each on loopback\n")
    for name, row in results["overhead"].items():
        print(f"{name}: local {row['local_median_ms']:.2f} ms, remote {row['remote_median_ms']:.2f} ms median "
              f"(+{row['delta_median_ms']:.2f} ms; p90 {row['local_p90_ms']:.2f} / {row['remote_p90_ms']:.2f})")
    print()
    for name, row in results["transport"].items():
        print(f"{name}: {row['median_ms']:.2f} ms median")
    print()
    shard = results["sharded_eval"]
    for key in ("1 node(s)", "2 node(s)"):
        rates = ", ".join(f"{r:.1f}" for r in shard[key]["images_per_s"])
        print(f"sharded eval, {key}: {rates} images/s ({shard['images']} images); per device "
              f"{shard[key]['per_device']}")
    print(f"identical confusion matrices: {shard['identical_confusion']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
