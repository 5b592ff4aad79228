"""The remote client against a real two-node Ray cluster: devices per node, chat/classify/Bayes, cancel,
a node removed mid-request, model transfer, sharded evaluation, and token auth."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ray = pytest.importorskip("ray")

from cluster_helpers import node_args  # noqa: E402

from app.cluster import inventory as cluster_nodes  # noqa: E402 - after the skip
from app.cluster.remote_client import RemoteClient, is_remote_device, start_remote_engine  # noqa: E402
from app.errors import RequestFailed  # noqa: E402
from app.history import History  # noqa: E402
from app.messages import EngineDead, Partial  # noqa: E402
from app.recording import run_recorded  # noqa: E402
from app.supervisor import InProcessClient  # noqa: E402
from tests.support.cancelling import cancel_after  # noqa: E402

SAMPLES = Path(__file__).resolve().parents[3] / "resources" / "images"


@pytest.fixture(scope="module")
def llm_n1(ray_cluster: Any) -> Iterator[RemoteClient]:
    """SmolLM2 on node n1."""
    client = start_remote_engine("llm", "n1/cpu", threads=1)
    client.load("smollm2-135m-instruct", "n1/cpu", {"n_ctx": 512})
    yield client
    client.close()


def test_each_node_lists_the_devices_probed_on_it(ray_cluster: Any) -> None:
    from app.cluster import nodes

    found = {n.name: n for n in nodes()}
    assert set(found) == {"n1", "n2"}
    assert found["n1"].is_head and not found["n2"].is_head
    for name, node in found.items():
        assert node.cpus == 1.0 and node.memory_bytes > 0
        assert f"{name}/cpu" in node.device_ids()
        assert node.report["probed_on"] == node.node_id  # the probe ran on that node, not here
        assert node.report["cpu"]["physical_cores"] >= 1
    assert is_remote_device("n2/cpu") and not is_remote_device("cpu") and not is_remote_device("ort:X:0")
    assert cluster_nodes.cluster_devices()[:1] == ["n1/cpu"]


def test_chat_streams_tokens_from_the_node(llm_n1: RemoteClient) -> None:
    assert llm_n1.model_info["device"] == "n1/cpu" and llm_n1.model_info["node"] == "n1"
    tokens: list[str] = []
    result = llm_n1.call("chat", {"prompt": "Name three colors.", "max_tokens": 8, "temperature": 0.0},
                         on_event=lambda e: tokens.append(e.data["text"]) if isinstance(e, Partial) else None,
                         timeout=120)
    assert tokens and "".join(tokens) == result["text"]
    assert 1 <= result["metrics"]["gen_tokens"] <= 8
    assert llm_n1.remote_pid is not None and llm_n1.remote_pid != os.getpid()


def test_cancel_stops_a_remote_answer(llm_n1: RemoteClient) -> None:
    handle = llm_n1.submit("chat", {"prompt": "Write a long poem about the sea.", "max_tokens": 300})
    cancel_after(handle, 3, timeout=120)
    result = handle.result()
    assert result["stop_reason"] == "cancelled" and result["metrics"]["gen_tokens"] < 30
    assert llm_n1.alive  # stopped between tokens, within the grace period


def test_bayes_query_on_a_node_matches_the_local_engine(ray_cluster: Any) -> None:
    params = {"evidence": "xray=yes,dysp=yes", "method": "jt"}
    with start_remote_engine("bayes", "n2/cpu", threads=1) as remote:
        remote.load("asia", "n2/cpu")
        far = remote.call("query", params, timeout=60)
        with pytest.raises(RequestFailed, match="nope"):
            remote.call("query", {"evidence": "nope=yes"}, timeout=60)
        assert remote.call("query", params, timeout=60)["posteriors"] == far["posteriors"]  # still serving
    with InProcessClient.for_engine("bayes") as local:
        local.load("asia", "cpu")
        near = local.call("query", params, timeout=60)
    assert far["posteriors"] == near["posteriors"]


def test_classify_one_image_on_a_node(ray_cluster: Any) -> None:
    options = {"backend": "onnxruntime", "threads": 1}
    image = str(SAMPLES / "chelsea.jpg")
    with start_remote_engine("vision", "n2/cpu", threads=1) as remote:
        info = remote.load("efficientnet-lite0", "n2/cpu", options)
        assert info["device"] == "n2/cpu" and info["backend"] == "onnxruntime"
        far = remote.call("classify", {"paths": [image], "topk": 3}, timeout=120)
    with InProcessClient.for_engine("vision") as local:
        local.load("efficientnet-lite0", "cpu", options)
        near = local.call("classify", {"paths": [image], "topk": 3}, timeout=120)
    assert far["classified"] == 1 and far["results"][0]["label"] == near["results"][0]["label"]
    assert far["results"][0]["prob"] == pytest.approx(near["results"][0]["prob"], abs=1e-5)


def test_a_model_the_node_lacks_is_sent_and_verified(ray_cluster: Any, tmp_path: Path) -> None:
    from app.cluster.model_transfer import build_manifest, send_model

    network = tmp_path / "asia-copy.bif.gz"
    from engines.bayes.catalogue import locate

    source = locate("asia")
    assert source is not None
    network.write_bytes(Path(source).read_bytes())
    with start_remote_engine("bayes", "n2/cpu", threads=1) as remote:
        manifest = build_manifest(network)
        # Named as if it lived where the node cannot see it: the node must take the bytes.
        elsewhere = {**manifest, "source": "/nonexistent/desktop/asia-copy.bif.gz"}
        seen: list[tuple[int, int]] = []
        node_path = send_model(remote._actor, elsewhere, lambda d, t: seen.append((d, t)), local=network)
        assert node_path != str(network) and node_path.endswith("asia-copy.bif.gz")
        assert Path(node_path).read_bytes() == network.read_bytes()
        assert seen[-1] == (manifest["total_bytes"], manifest["total_bytes"])
        # The second time the node finds its verified copy: nothing is sent.
        again: list[tuple[int, int]] = []
        assert send_model(remote._actor, elsewhere, lambda d, t: again.append((d, t)), local=network) == node_path
        assert again == []
        remote.load(node_path, "n2/cpu")
        assert remote.call("query", {"evidence": "xray=yes"}, timeout=60)["posteriors"]


def test_node_removed_mid_request_is_a_crashed_run_and_the_other_node_works(
        ray_cluster: Any, llm_n1: RemoteClient, tmp_path: Path) -> None:
    node = ray_cluster.add_node(**node_args("n3"))
    ray_cluster.wait_for_nodes()
    history = History(tmp_path / "history.db")
    try:
        client = start_remote_engine("llm", "n3/cpu", threads=1)
        client.load("smollm2-135m-instruct", "n3/cpu", {"n_ctx": 512})
        tokens: list[str] = []

        def on_event(event: Any) -> None:
            if isinstance(event, Partial):
                tokens.append(event.data["text"])
                if len(tokens) == 3:
                    ray_cluster.remove_node(node, allow_graceful=False)

        started = time.monotonic()
        outcome = run_recorded(client, "chat", {"prompt": "Tell me a long story.", "max_tokens": 400},
                               history=history, engine="llm", on_event=on_event)
        assert time.monotonic() - started < 120
        assert outcome.status == "crashed" and isinstance(outcome.final, EngineDead)
        assert "n3" in (outcome.error or "") and "died" in (outcome.error or "")
        assert len(tokens) >= 3  # what streamed before the loss is kept
        assert history.get_run(outcome.run_id)["status"] == "crashed"
        assert not client.alive
        with pytest.raises(Exception, match="restart it"):
            client.call("chat", {"prompt": "hi", "max_tokens": 2}, timeout=30)
        client.close()
        deadline = time.monotonic() + 60
        while "n3" in {n.name for n in cluster_nodes.live_nodes()}:  # the head notices at its next checks
            assert time.monotonic() < deadline, "the lost node is still listed after 60 s"
            time.sleep(0.5)
        # The next request, on the node that is still there, works.
        again = llm_n1.call("chat", {"prompt": "Say hi.", "max_tokens": 4, "temperature": 0.0}, timeout=120)
        assert again["text"]
    finally:
        history.close()


def test_sharded_eval_equals_one_worker(ray_cluster: Any, labelled_folder: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    from app.cli import main

    options = {"backend": "onnxruntime", "threads": 1}
    assert main(["eval", str(labelled_folder), "--devices", "n1/cpu,n2/cpu", "-m", "efficientnet-lite0",
                 "--backend", "onnxruntime", "--threads", "1", "--json"]) == 0
    merged = json.loads(capsys.readouterr().out)
    with start_remote_engine("vision", "n1/cpu", threads=1) as single:
        single.load("efficientnet-lite0", "n1/cpu", options)
        whole = single.call("eval", {"folder": str(labelled_folder), "agreement": False}, timeout=300)
    assert merged["confusion"] == whole["confusion"]
    assert merged["evaluated"] == whole["evaluated"] == 8
    assert merged["top1"] == whole["top1"] and merged["top5"] == whole["top5"]
    assert merged["per_class"] == whole["per_class"] and merged["macro"] == whole["macro"]
    shards = {s["device"]: s for s in merged["shards"]}
    assert set(shards) == {"n1/cpu", "n2/cpu"} and sum(s["evaluated"] for s in shards.values()) == 8
    assert all(s["images_per_s"] > 0 for s in shards.values())
    history = History()  # each shard is a run in this machine's history, on its node's device
    try:
        assert {history.get_run(s["run_id"])["device"] for s in shards.values()} == {"n1/cpu", "n2/cpu"}
    finally:
        history.close()


def test_compare_includes_the_nodes_devices_with_their_fingerprints(ray_cluster: Any, tmp_path: Path) -> None:
    from app.compare.plan import CompareSettings
    from app.compare.runner import CompareRunner, cpu_only_report

    settings = CompareSettings(workloads=("bayes",), devices=("cpu", "n2/cpu"), bayes_network="asia",
                               bayes_methods=("jt",), repeat=2, warmup=0)
    history = History(tmp_path / "history.db")
    try:
        runner = CompareRunner(settings, history, device_report=cpu_only_report("this machine: CPU only"))
        session = runner.run()
    finally:
        history.close()
    rows = {row.device: row for row in session.results}
    assert set(rows) == {"cpu", "n2/cpu"} and all(row.ok for row in rows.values()), [r.flags for r in rows.values()]
    assert rows["n2/cpu"].metrics["query_ms"] > 0 and rows["n2/cpu"].backend == "numpy"
    n2 = next(n for n in cluster_nodes.live_nodes(with_devices=True) if n.name == "n2")
    machine = session.meta["machines"]["n2"]
    assert machine["id"] == n2.report["machine"]["id"]  # taken on the node, stored with the session
    assert any(f.code == "node" and machine["id"] in f.message for f in rows["n2/cpu"].flags)
    assert not any(f.code == "node" for f in rows["cpu"].flags)
    assert not rows["n2/cpu"].has_flag("no_faster_than_cpu")  # a node's CPU is a CPU, not an accelerator


def _connect_in_child(address: str, token: str | None, home: Path, *, plain_ray: bool = False) -> subprocess.Popen[str]:
    """A separate process (Ray reads its auth settings once per process) trying to join as a driver."""
    if plain_ray:  # Ray itself, with no token anywhere (no variable, no ~/.ray/auth_token)
        code = f"import ray\nray.init(address={address!r})\nprint('connected')\n"
    else:
        code = ("import sys\nfrom app.cluster.connection import connect\nfrom app.cluster.ray_env import ClusterError\n"
                f"try:\n    connect({address!r}, {token!r}, save=False)\n"
                "except ClusterError as exc:\n    print(exc)\n    sys.exit(3)\nprint('connected')\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
    env.update({"WORKBENCH_HOME": str(home), "HOME": str(home)})
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env, cwd=Path(__file__).resolve().parents[3])


def test_token_auth_refuses_a_client_without_the_token(ray_cluster: Any, tmp_path: Path) -> None:
    from app.cluster.ray_env import read_token

    # Ray retries for about 20 s before it gives up on a refused connection: run the refusals side by side.
    children = {
        "wrong": _connect_in_child(ray_cluster.address, "0" * 64, tmp_path / "wrong"),
        "none": _connect_in_child(ray_cluster.address, None, tmp_path / "none", plain_ray=True),
        "right": _connect_in_child(ray_cluster.address, read_token(), tmp_path / "right"),
    }
    outputs = {name: child.communicate(timeout=180)[0] for name, child in children.items()}
    codes = {name: child.returncode for name, child in children.items()}
    assert codes["wrong"] == 3 and "cannot connect" in outputs["wrong"], outputs["wrong"][-2000:]
    assert codes["none"] != 0 and "connected" not in outputs["none"].splitlines()
    assert "token" in outputs["none"].lower()  # refused for the missing token, not for something else
    assert codes["right"] == 0 and outputs["right"].strip().endswith("connected"), outputs["right"][-2000:]
    assert _connect_without_saved_token(ray_cluster.address, tmp_path / "fresh") == 3


def _connect_without_saved_token(address: str, home: Path) -> int:
    child = _connect_in_child(address, None, home)
    out = child.communicate(timeout=60)[0]
    assert "no cluster token" in out  # refused here, before anything is sent
    return int(child.returncode)


def test_a_head_that_is_not_there_fails_fast_and_keeps_the_connection(ray_cluster: Any) -> None:
    import socket

    from app.cluster.connection import connect, connected
    from app.cluster.ray_env import ClusterError

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{probe.getsockname()[1]}"  # bound, never listening
        started = time.monotonic()
        with pytest.raises(ClusterError, match="no cluster answers"):
            connect(closed, save=False)
    assert time.monotonic() - started < 10 and connected()
    assert {n.name for n in cluster_nodes.live_nodes()} >= {"n1", "n2"}


def test_cluster_status_command(ray_cluster: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from app.cli import main

    assert main(["cluster", "status", "--json"]) == 0
    listed = {n["name"]: n for n in json.loads(capsys.readouterr().out)}
    assert {"n1", "n2"} <= set(listed) and "n2/cpu" in listed["n2"]["devices"]
