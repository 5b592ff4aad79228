"""One Ray cluster for the whole module: a head ("n1") and a second node ("n2"), 1 CPU each, token auth on.

Both "nodes" run on this machine as separate raylets with their own custom resource naming them, the way
``ray.cluster_utils.Cluster`` is meant for tests. Ray is part of ``make test``; without it these tests skip.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cluster_helpers import node_args


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[Any]:
    """A running two-node cluster this process is connected to."""
    pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    from app.cluster.connection import connect, disconnect

    with pytest.MonkeyPatch.context() as patch:
        from app.cluster.ray_env import apply_auth_environment, auth_environment

        for name in (*auth_environment(secrets.token_hex(32)), "RAY_AUTH_TOKEN"):
            patch.setenv(name, "")  # recorded, so leaving the context puts back what was there before
            patch.delenv(name)
        apply_auth_environment()  # the saved token, as the CLI does
        # Health checks every 0.5 s (Ray's default: 3 s, five misses) so a node that is cut off leaves quickly.
        checks = {"health_check_period_ms": 500, "health_check_failure_threshold": 3}
        cluster = Cluster(initialize_head=True, connect=False,
                          head_node_args={**node_args("n1"), "_system_config": checks})
        try:
            cluster.add_node(**node_args("n2"))
            cluster.wait_for_nodes()
            connect(cluster.address, save=False)
            yield cluster
        finally:
            disconnect()
            cluster.shutdown()


@pytest.fixture(scope="module")
def labelled_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny ImageNet-class folder: the sample photos and flipped/cropped copies under two class names."""
    from PIL import Image, ImageOps

    samples = Path(__file__).resolve().parents[3] / "resources" / "images"
    root = tmp_path_factory.mktemp("labelled")
    for class_name, files in (("tabby", ("chelsea.jpg", "astronaut.jpg")), ("espresso", ("coffee.jpg", "rocket.jpg"))):
        folder = root / class_name
        folder.mkdir()
        for name in files:
            image = Image.open(samples / name).convert("RGB")
            image.save(folder / name, quality=90)
            ImageOps.mirror(image).save(folder / f"mirror-{name}", quality=90)
    return root
