"""Hugging Face Hub search, file lists and file metadata, through huggingface_hub (imported lazily)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from app.models.errors import ModelError, Reason
from app.models.quant import is_gguf_name, is_projector_name, parse_quant, shard_info
from app.models.safe_names import check_repo_id, check_revision, safe_relative_name

DEFAULT_TIMEOUT_S = 10.0
# Opt-in for sending the token over plain HTTP to another machine (also: the CLI's --allow-insecure-token).
INSECURE_TOKEN_ENV = "WORKBENCH_ALLOW_INSECURE_TOKEN"
INSECURE_TOKEN_FLAG = "--allow-insecure-token"
SEARCH_KINDS = ("llm", "vision")
SORTS = {"downloads": "downloads", "likes": "likes", "updated": "lastModified"}
# What each kind means on the Hub: GGUF repositories for llama.cpp, timm image classifiers in safetensors.
_KIND_FILTERS: dict[str, dict[str, Any]] = {
    "llm": {"filter": ["gguf"]},
    "vision": {"filter": ["timm", "safetensors"], "pipeline_tag": "image-classification"},
}
_EXPAND = ["downloads", "likes", "lastModified", "tags", "pipeline_tag", "library_name"]


@dataclass(frozen=True)
class HubRepo:
    """One search hit."""

    id: str
    downloads: int
    likes: int
    updated: dt.datetime | None
    pipeline_tag: str | None = None
    library: str | None = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class HubFile:
    """One file of a repository; ``sha256`` is what the Hub publishes for LFS files."""

    filename: str
    size: int | None
    sha256: str | None
    quant: str | None = None
    shard: tuple[str, int, int] | None = None  # (stem, index, count) of a split GGUF

    @property
    def is_model(self) -> bool:
        """True for weights the workbench can register (GGUF, safetensors, ONNX)."""
        return self.filename.lower().endswith((".gguf", ".safetensors", ".onnx"))


@dataclass(frozen=True)
class RepoFiles:
    """A repository's files at one commit."""

    repo: str
    commit: str | None
    files: tuple[HubFile, ...] = field(default_factory=tuple)
    tags: tuple[str, ...] = ()
    pipeline_tag: str | None = None
    library: str | None = None

    def get(self, filename: str) -> HubFile | None:
        """The file with this exact name."""
        return next((f for f in self.files if f.filename == filename), None)


@dataclass(frozen=True)
class FileMetadata:
    """What a HEAD on the file's resolve URL says: the commit, the blob id, the size and where the bytes are."""

    commit: str
    etag: str
    size: int | None
    location: str
    url: str


class HubClient:
    """Talks to the Hub (or ``endpoint``, a mirror or the tests' loopback server) with an optional token."""

    def __init__(self, *, endpoint: str | None = None, token: str | None = None,
                 timeout: float = DEFAULT_TIMEOUT_S, allow_insecure_token: bool = False) -> None:
        self._endpoint = endpoint.rstrip("/") if endpoint else None
        self._token = token
        self.timeout = timeout
        self.allow_insecure_token = allow_insecure_token
        self.withheld_token = False  # a token exists but was not sent (plain HTTP to another machine)

    @property
    def endpoint(self) -> str:
        """The Hub address in use."""
        if self._endpoint:
            return self._endpoint
        from huggingface_hub import constants

        return str(constants.ENDPOINT)

    def token(self) -> str | None:
        """The token to send: the one given, else the one stored with ``models token set``."""
        if self._token is not None:
            return self._token
        from app.models.tokens import load_token

        return load_token()

    def token_allowed(self) -> bool:
        """True when a token may go to the endpoint: https, this machine, or an explicit opt-in."""
        split = urlsplit(self.endpoint)
        if split.scheme == "https" or self.allow_insecure_token or os.environ.get(INSECURE_TOKEN_ENV) == "1":
            return True
        return _is_loopback(split.hostname or "")

    def request_token(self) -> str | bool | None:
        """What to hand huggingface_hub as ``token``: ours, None (its own), or False (send none at all)."""
        token = self.token()
        if self.token_allowed():
            return token
        if token is None:
            from huggingface_hub import get_token

            token = get_token()  # HF_TOKEN or `hf auth login`: withheld just the same
        self.withheld_token = token is not None
        return False

    def _errors(self, doing: str) -> Any:
        return hub_errors(doing, self.timeout, self.endpoint, withheld=self)

    def _api(self) -> Any:
        from huggingface_hub import HfApi

        return HfApi(endpoint=self.endpoint, token=self.request_token())

    def search(self, query: str, *, kind: str = "llm", sort: str = "downloads", limit: int = 20) -> list[HubRepo]:
        """Repositories matching ``query`` for ``kind`` (llm: GGUF, vision: timm), best first by ``sort``."""
        if kind not in _KIND_FILTERS:
            raise ModelError(Reason.BAD_INPUT, f"kind must be one of {', '.join(SEARCH_KINDS)}, not {kind!r}")
        if sort not in SORTS:
            raise ModelError(Reason.BAD_INPUT, f"sort must be one of {', '.join(SORTS)}, not {sort!r}")
        if limit < 1:
            raise ModelError(Reason.BAD_INPUT, "limit must be at least 1")
        from huggingface_hub.hf_api import ModelInfo
        from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

        # The same request HfApi.list_models sends, made here because list_models has no timeout and retries
        # server errors for ~20 s: a search box must answer or fail quickly.
        params: dict[str, Any] = {"sort": SORTS[sort], "limit": limit, "expand": _EXPAND, **_KIND_FILTERS[kind]}
        if query:
            params["search"] = query
        with self._errors(f"searching the Hub for {query!r}"):
            response = get_session().get(f"{self.endpoint}/api/models", params=params,
                                         headers=build_hf_headers(token=self.request_token()),
                                         timeout=self.timeout)
            hf_raise_for_status(response)
            items = response.json()
        if not isinstance(items, list):
            raise ModelError(Reason.SERVER, f"{self.endpoint} answered the search with something that is not a "
                                            "list of models")
        found = [ModelInfo(**item) for item in items[:limit] if isinstance(item, dict) and "id" in item]
        return [HubRepo(id=m.id, downloads=int(m.downloads or 0), likes=int(m.likes or 0),
                        updated=m.last_modified, pipeline_tag=m.pipeline_tag, library=m.library_name,
                        tags=tuple(m.tags or ())) for m in found]

    def repo_files(self, repo_id: str, revision: str | None = None) -> RepoFiles:
        """The files of ``repo_id`` with sizes, LFS SHA-256 and the quant parsed from GGUF names."""
        check_repo_id(repo_id)
        if revision is not None:
            check_revision(revision)
        with self._errors(f"listing the files of {repo_id}"):
            info = self._api().model_info(repo_id, revision=revision, files_metadata=True, timeout=self.timeout)
        files = []
        for sibling in info.siblings or ():
            safe_relative_name(sibling.rfilename)  # a hostile listing is refused whole, not half-used
            lfs = sibling.lfs
            size = sibling.size if sibling.size is not None else (lfs.size if lfs else None)
            gguf = is_gguf_name(sibling.rfilename)
            files.append(HubFile(
                filename=sibling.rfilename, size=size, sha256=(lfs.sha256.lower() if lfs else None),
                quant=parse_quant(sibling.rfilename) if gguf else None,
                shard=shard_info(sibling.rfilename) if gguf else None,
            ))
        return RepoFiles(repo=repo_id, commit=info.sha, files=tuple(files), tags=tuple(info.tags or ()),
                         pipeline_tag=info.pipeline_tag, library=info.library_name)

    def file_metadata(self, repo_id: str, filename: str, revision: str) -> FileMetadata:
        """HEAD the file's resolve URL: commit, ETag (the SHA-256 for LFS files), size and byte location."""
        from huggingface_hub import get_hf_file_metadata, hf_hub_url

        check_repo_id(repo_id)
        check_revision(revision)
        safe_relative_name(filename)
        url = hf_hub_url(repo_id, filename, revision=revision, endpoint=self.endpoint)
        with self._errors(f"looking up {filename} in {repo_id}"):
            meta = get_hf_file_metadata(url, token=self.request_token(), timeout=self.timeout,
                                        endpoint=self.endpoint)
        if not meta.commit_hash or not meta.etag:
            raise ModelError(Reason.SERVER, f"{self.endpoint} answered without X-Repo-Commit or ETag headers: "
                                            "it does not look like a Hugging Face Hub (check HF_ENDPOINT)")
        return FileMetadata(commit=meta.commit_hash, etag=meta.etag, size=meta.size, location=meta.location,
                            url=url)

    def auth_headers(self) -> dict[str, str]:
        """Headers for a byte transfer from the Hub (user agent, and the token if there is one)."""
        from huggingface_hub.utils import build_hf_headers

        headers: dict[str, str] = build_hf_headers(token=self.request_token())
        headers["Accept-Encoding"] = "identity"  # byte ranges refer to the stored file, not a gzip stream
        return headers


@contextmanager
def hub_errors(doing: str, timeout: float, endpoint: str, withheld: HubClient | None = None) -> Iterator[None]:
    """Turn huggingface_hub and network exceptions into :class:`ModelError` with words a user can act on.

    ``withheld``: the client whose token may have been held back; an access error then says why.
    """
    try:
        yield
    except ModelError:
        raise
    except Exception as exc:
        mapped = describe_hub_error(exc, doing, timeout, endpoint)
        if mapped is None:
            raise
        if withheld is not None and withheld.withheld_token and mapped.reason in (Reason.AUTH, Reason.NOT_FOUND):
            mapped = ModelError(mapped.reason, mapped.message + f" (a token is stored but was not sent: {endpoint} "
                                "is plain http and not this machine; use https, or pass "
                                f"{INSECURE_TOKEN_FLAG} if this network is trusted)")
        raise mapped from exc


def describe_hub_error(exc: Exception, doing: str, timeout: float, endpoint: str,
                       who: str = "the Hub") -> ModelError | None:
    """The :class:`ModelError` for an exception raised while talking to the Hub (None: not a Hub error).

    ``who`` names the server in messages (the file host a download was redirected to, for example).
    """
    import httpx2
    from huggingface_hub import errors

    where = f"{doing}: "
    if isinstance(exc, errors.GatedRepoError):
        return ModelError(Reason.AUTH, where + "the repository is gated: accept its terms on the Hub and set "
                                               "a token (workbench models token set)")
    if isinstance(exc, errors.RevisionNotFoundError):
        return ModelError(Reason.NOT_FOUND, where + "no such revision (branch, tag or commit)")
    if isinstance(exc, errors.RemoteEntryNotFoundError):
        return ModelError(Reason.NOT_FOUND, where + "no such file in the repository")
    if isinstance(exc, errors.RepositoryNotFoundError):
        return ModelError(Reason.NOT_FOUND, where + "repository not found (or private: set a token with "
                                                    "workbench models token set)")
    if isinstance(exc, errors.OfflineModeIsEnabled):
        return ModelError(Reason.NETWORK, where + "offline mode is on (HF_HUB_OFFLINE is set)")
    if isinstance(exc, errors.HfHubHTTPError):
        status = exc.response.status_code if exc.response is not None else None
        if status in (401, 403):
            return ModelError(Reason.AUTH, where + f"the Hub refused access ({status}); set a token with "
                                                   "workbench models token set")
        reason = exc.response.reason_phrase if exc.response is not None else ""
        return ModelError(Reason.SERVER, where + f"{who} answered {status} {reason}".rstrip() +
                          "; try again later")
    if isinstance(exc, httpx2.TimeoutException):
        return ModelError(Reason.TIMEOUT, where + f"{endpoint} did not answer within {timeout:g} s; "
                                                  "check the connection and try again")
    if isinstance(exc, httpx2.TransportError):
        return ModelError(Reason.NETWORK, where + f"cannot reach {endpoint} ({type(exc).__name__}: {exc})")
    if isinstance(exc, errors.FileMetadataError):
        return ModelError(Reason.SERVER, where + str(exc).splitlines()[0])
    if isinstance(exc, ValueError | errors.HFValidationError):
        return ModelError(Reason.BAD_INPUT, where + str(exc).splitlines()[0])
    return None


def pick_default_files(files: Sequence[HubFile]) -> list[HubFile]:
    """What ``pull REPO`` takes with no file named: one GGUF (all its shards), or a timm checkpoint + config."""
    ggufs = [f for f in files if is_gguf_name(f.filename) and not is_projector_name(f.filename)]
    if ggufs:
        from app.models.quant import PREFERRED_QUANTS

        choices = {f.quant for f in ggufs}
        if len({f.shard[0] if f.shard else f.filename for f in ggufs}) == 1:
            return ggufs
        for quant in PREFERRED_QUANTS:
            if quant in choices:
                picked = [f for f in ggufs if f.quant == quant]
                first = picked[0]
                group = first.shard[0] if first.shard else first.filename
                return [f for f in picked if (f.shard[0] if f.shard else f.filename) == group]
        names = ", ".join(sorted(f.filename for f in ggufs if not f.shard or f.shard[1] == 1))
        raise ModelError(Reason.BAD_INPUT, f"the repository holds several GGUF files; name one: {names}")
    weights = [f for f in files if f.filename.endswith(".safetensors") and "/" not in f.filename]
    if weights:
        config = [f for f in files if f.filename == "config.json"]
        return weights[:1] + config
    onnx = [f for f in files if f.filename.endswith(".onnx")]
    if onnx:
        return onnx[:1]
    raise ModelError(Reason.UNSUPPORTED, "the repository has no GGUF, safetensors or ONNX file to download")


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
