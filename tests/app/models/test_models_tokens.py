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


def test_token_set_does_not_follow_a_planted_symlink(home: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    folder = tokens.token_path().parent
    folder.mkdir(parents=True, mode=0o700)
    (folder / "hf_token.tmp").symlink_to(victim)  # the name the old code wrote through
    path = tokens.save_token(SECRET)
    assert victim.read_text() == "precious"
    assert not path.is_symlink() and tokens.load_token() == SECRET
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    # A symlink planted at the token's own name is replaced, never written through.
    tokens.clear_token()
    tokens.token_path().symlink_to(victim)
    with pytest.raises(ModelError, match="is a symlink"):
        tokens.load_token()
    tokens.save_token(SECRET)
    assert victim.read_text() == "precious" and not tokens.token_path().is_symlink()


def test_token_set_refuses_a_secrets_folder_that_is_a_symlink(home: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o755)
    home.mkdir(parents=True, exist_ok=True)
    tokens.token_path().parent.symlink_to(elsewhere)
    with pytest.raises(ModelError) as error:
        tokens.save_token(SECRET)
    assert error.value.reason is Reason.AUTH and "not a plain folder" in error.value.message
    assert list(elsewhere.iterdir()) == [] and stat.S_IMODE(elsewhere.stat().st_mode) == 0o755


def test_token_is_not_sent_over_plain_http_to_another_machine(home: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    tokens.save_token(SECRET)
    # No request is made: the headers a download would send are built and read.
    remote = HubClient(endpoint="http://192.0.2.10:8080")
    assert "authorization" not in remote.auth_headers() and remote.withheld_token
    monkeypatch.setenv("HF_TOKEN", "hf_FromTheEnvironment0000")
    tokens.clear_token()
    assert "authorization" not in HubClient(endpoint="http://mirror.example:80").auth_headers()
    monkeypatch.delenv("HF_TOKEN")
    tokens.save_token(SECRET)
    for allowed in (HubClient(endpoint="http://192.0.2.10:8080", allow_insecure_token=True),
                    HubClient(endpoint="https://hub.example"), HubClient(endpoint="http://127.0.0.1:9"),
                    HubClient(endpoint="http://localhost:9"), HubClient(endpoint="http://[::1]:9")):
        assert allowed.auth_headers()["authorization"] == f"Bearer {SECRET}", allowed.endpoint
    monkeypatch.setenv("WORKBENCH_ALLOW_INSECURE_TOKEN", "1")
    assert "authorization" in HubClient(endpoint="http://192.0.2.10:8080").auth_headers()


def test_a_refused_token_set_never_echoes_the_token(tmp_path: Path) -> None:
    import subprocess
    import sys

    env = {**os.environ, "WORKBENCH_HOME": str(tmp_path / "home"), "HOME": str(tmp_path)}
    for args in (["set", SECRET], [SECRET], ["set", "--", SECRET], ["status", SECRET]):
        result = subprocess.run([sys.executable, "-m", "app.cli", "models", "token", *args], env=env, text=True,
                                capture_output=True, timeout=60, cwd=Path(__file__).parents[3], input="")
        assert result.returncode != 0, args
        assert SECRET not in result.stdout + result.stderr, args
        assert "usage: workbench models token" in result.stderr
    assert not (tmp_path / "home" / "secrets" / "hf_token").exists()
