"""The Hub token: stored owner-only, sent to the Hub only (not the CDN), never written anywhere else."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from fake_hub_server import FakeHub, tiny_gguf

from app.models import tokens
from app.models.api import ModelManager
from app.models.errors import ModelError, Reason
from app.models.hub import HubClient

SECRET = "hf_TestSecretToken1234567890"


def test_token_is_stored_owner_only_and_masked(home: Path) -> None:
    path = tokens.save_token(f"  {SECRET}\n")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert tokens.load_token() == SECRET
    assert SECRET not in tokens.mask(SECRET) and tokens.mask(SECRET).startswith("hf_")
    assert tokens.clear_token() and tokens.load_token() is None and not tokens.clear_token()


def test_bad_tokens_and_readable_token_files_are_refused(home: Path) -> None:
    with pytest.raises(ModelError, match="does not look like"):
        tokens.save_token("has spaces in it")
    path = tokens.save_token(SECRET)
    os.chmod(path, 0o644)
    with pytest.raises(ModelError) as error:
        tokens.load_token()
    assert error.value.reason is Reason.AUTH and "chmod 600" in error.value.message


def test_token_goes_to_the_hub_but_not_to_the_cdn_nor_the_registry(fake_hub: FakeHub, manager: ModelManager,
                                                                    home: Path) -> None:
    fake_hub.add_repo("org/Private-GGUF", {"p-Q4_0.gguf": tiny_gguf(padding=1000)})
    tokens.save_token(SECRET)
    manager.hub = HubClient(endpoint=fake_hub.url, timeout=2.0)  # no token given: the stored one is used
    record = manager.pull("org/Private-GGUF").record
    hub_auth = {r.headers.get("authorization") for r in fake_hub.requests_to("hub")}
    assert hub_auth == {f"Bearer {SECRET}"}
    assert all("authorization" not in r.headers for r in fake_hub.requests_to("cdn"))
    database = (home / "workbench.db").read_bytes() + b"".join(
        p.read_bytes() for p in home.glob("workbench.db-*"))
    assert SECRET.encode() not in database and SECRET not in repr(record)
