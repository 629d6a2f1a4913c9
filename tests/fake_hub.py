"""A fake Hugging Face Hub behind huggingface_hub's own HTTP client, for tests without a network.

huggingface_hub 2.4 sends every request through one ``httpx2.Client`` made by a factory that
``set_client_factory`` replaces; the fake answers at that boundary, so everything above it
(``snapshot_download`` and the cache, ``create_repo``, ``create_branch``, ``create_commit``,
``whoami``, ``HF_HUB_OFFLINE``) is the real library code. It serves the endpoints textcnn uses,
with the status codes and ``X-Error-Code`` headers the real Hub sends for the errors it handles,
and keeps every file in regular (non-LFS) mode.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

import httpx2

ENDPOINT = "https://huggingface.co"
TOKEN = "hf_fake_write_token"
READ_TOKEN = "hf_fake_read_token"
USER = "me"


@dataclass
class Repo:
    private: bool
    refs: dict[str, str] = field(default_factory=dict)  # branch -> commit
    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)  # commit -> {path: content}
    messages: dict[str, str] = field(default_factory=dict)  # commit -> summary


@contextlib.contextmanager
def installed(fake: FakeHub, monkeypatch, cache_dir: Path) -> Iterator[FakeHub]:
    """``fake`` behind huggingface_hub's HTTP client, with an empty cache in ``cache_dir`` and a write
    token in HF_TOKEN; the real client comes back on the way out."""
    from huggingface_hub import constants, set_client_factory
    from huggingface_hub.utils._http import default_client_factory

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache_dir))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    set_client_factory(fake.client)
    try:
        yield fake
    finally:
        set_client_factory(default_client_factory)


def applied_commit(request, files: dict[str, bytes]) -> tuple[dict[str, bytes], str]:
    """(the files after a commit request's NDJSON operations, its summary): huggingface_hub's commit format."""
    files, summary = dict(files), ""
    for line in request.content.splitlines():
        item = json.loads(line)
        if item["key"] == "header":
            summary = item["value"]["summary"]
        elif item["key"] == "file":
            files[item["value"]["path"]] = base64.b64decode(item["value"]["content"])
        elif item["key"] == "deletedFile":
            files.pop(item["value"]["path"])
    return files, summary


class FakeHub:
    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.requests: list[str] = []  # "METHOD /path", in order
        self.fail: dict[str, int] = {}  # endpoint name ("commit", "create", "resolve", ...) -> status to answer

    # --- state ---------------------------------------------------------------------------
    def add_commit(self, repo_id: str, files: dict[str, bytes], branch: str = "main", message: str = "",
                   private: bool = False) -> str:
        repo = self.repos.setdefault(repo_id, Repo(private=private))
        parent = repo.refs.get(branch, "")
        sha = hashlib.sha1(f"{repo_id}{branch}{parent}{len(repo.commits)}".encode()).hexdigest()
        repo.commits[sha] = dict(files)
        repo.messages[sha] = message
        repo.refs[branch] = sha
        return sha

    def files(self, repo_id: str, revision: str = "main") -> dict[str, bytes]:
        repo = self.repos[repo_id]
        return repo.commits[repo.refs.get(revision, revision)]

    def commit_count(self, repo_id: str) -> int:
        return len(self.repos[repo_id].commits)

    # --- HTTP ----------------------------------------------------------------------------
    def client(self) -> httpx2.Client:
        """What huggingface_hub's default client factory builds, with the fake as transport."""
        from huggingface_hub.utils._http import hf_request_event_hook

        return httpx2.Client(
            transport=httpx2.MockTransport(self.handle),
            event_hooks={"request": [hf_request_event_hook]},  # HF_HUB_OFFLINE is enforced here
            follow_redirects=True,
        )

    @staticmethod
    def _error(status: int, code: str | None = None, **body) -> httpx2.Response:
        headers = {"X-Error-Code": code} if code else {}
        return httpx2.Response(status, headers=headers, json={"error": code or "error", **body})

    def _token(self, request: httpx2.Request) -> str | None:
        auth = request.headers.get("authorization", "")
        return auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None

    def _lookup(self, request, repo_id: str, revision: str):
        """(commit, files) or an error response, as the Hub answers for a missing repo or revision."""
        repo = self.repos.get(repo_id)
        if repo is None or (repo.private and self._token(request) not in (TOKEN, READ_TOKEN)):
            return None, self._error(401, "RepoNotFound")
        sha = repo.refs.get(revision, revision if revision in repo.commits else None)
        if sha is None:
            return None, self._error(404, "RevisionNotFound")
        return (sha, repo.commits[sha]), None

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        path = unquote(request.url.path)
        self.requests.append(f"{request.method} {path}")
        for name, status in self.fail.items():
            if f"/{name}" in path:
                return self._error(status, message=f"injected failure of {name}")
        if m := re.fullmatch(r"/api/models/([^/]+/[^/]+)/revision/(.+)", path):
            found, error = self._lookup(request, m[1], m[2])
            if error:
                return error
            sha, files = found
            return httpx2.Response(200, json={"id": m[1], "sha": sha, "siblings": [{"rfilename": p} for p in files]})
        if m := re.fullmatch(r"/api/models/([^/]+/[^/]+)/tree/([^/]+)(/.*)?", path):
            found, error = self._lookup(request, m[1], m[2])
            if error:
                return error
            _, files = found
            return httpx2.Response(200, json=[
                {"type": "file", "oid": hashlib.sha1(data).hexdigest(), "size": len(data), "path": name}
                for name, data in files.items()
            ])
        if m := re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path):
            found, error = self._lookup(request, m[1], m[2])
            if error:
                return error
            sha, files = found
            if m[3] not in files:
                return self._error(404, "EntryNotFound")
            data = files[m[3]]
            headers = {"X-Repo-Commit": sha, "ETag": f'"{hashlib.sha1(data).hexdigest()}"', "Content-Length": str(len(data))}
            return httpx2.Response(200, headers=headers, content=b"" if request.method == "HEAD" else data)
        if path == "/api/whoami-v2":
            token = self._token(request)
            if token not in (TOKEN, READ_TOKEN):
                return self._error(401, message="Invalid credentials in Authorization header")
            role = "write" if token == TOKEN else "read"
            return httpx2.Response(200, json={"name": USER, "auth": {"accessToken": {"role": role}}})
        # everything below writes: it needs the write token
        if self._token(request) != TOKEN:
            return self._error(401, message="Invalid credentials in Authorization header")
        if path == "/api/repos/create":
            body = json.loads(request.content)
            repo_id = f"{body.get('organization') or USER}/{body['name']}"
            if repo_id in self.repos:
                return httpx2.Response(409, json={"error": "You already created this model repo", "url": f"{ENDPOINT}/{repo_id}"})
            self.add_commit(repo_id, {".gitattributes": b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"},
                            message="initial commit", private=body.get("visibility") == "private")
            return httpx2.Response(200, json={"url": f"{ENDPOINT}/{repo_id}"})
        if m := re.fullmatch(r"/api/models/([^/]+/[^/]+)/branch/(.+)", path):
            repo = self.repos.get(m[1])
            if repo is None:
                return self._error(404, "RepoNotFound")
            if m[2] in repo.refs:
                return self._error(409, message="Reference already exists")
            start = json.loads(request.content or b"{}").get("startingPoint", "main")
            repo.refs[m[2]] = repo.refs.get(start, start)
            return httpx2.Response(200, json={})
        if path == "/api/validate-yaml":
            return httpx2.Response(200, json={"errors": [], "warnings": []})
        if m := re.fullmatch(r"/api/models/([^/]+/[^/]+)/preupload/(.+)", path):
            body = json.loads(request.content)
            return httpx2.Response(200, json={"files": [
                {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False, "oid": None} for f in body["files"]
            ]})
        if m := re.fullmatch(r"/api/models/([^/]+/[^/]+)/commit/(.+)", path):
            found, error = self._lookup(request, m[1], m[2])
            if error:
                return error
            files, summary = applied_commit(request, found[1])
            sha = self.add_commit(m[1], files, branch=m[2], message=summary)
            return httpx2.Response(200, json={"commitUrl": f"{ENDPOINT}/{m[1]}/commit/{sha}", "commitOid": sha,
                                              "pullRequestUrl": None})
        return self._error(404, message=f"the fake Hub does not serve {request.method} {path}")


# --- Spaces -------------------------------------------------------------------------------------
class FakeHubWithSpaces(FakeHub):
    """The fake Hub with Space repos as well: creation (SDK, variables), Space variables, commits, listings.

    A Space lives in ``repos`` under ``spaces/<id>`` (on the Hub a Space and a model may share an id);
    every other request goes to :class:`FakeHub`.
    """

    def __init__(self) -> None:
        super().__init__()
        self.space_sdks: dict[str, str] = {}  # space id -> SDK given at creation
        self.variables: dict[str, dict[str, str]] = {}  # space id -> {key: value}

    @staticmethod
    def space_key(space_id: str) -> str:
        return f"spaces/{space_id}"

    def space_files(self, space_id: str, revision: str = "main") -> dict[str, bytes]:
        return self.files(self.space_key(space_id), revision)

    def space_commit_messages(self, space_id: str) -> list[str]:
        """The messages of the Space's commits, oldest first."""
        return list(self.repos[self.space_key(space_id)].messages.values())

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        path = unquote(request.url.path)
        creates_space = path == "/api/repos/create" and json.loads(request.content or b"{}").get("type") == "space"
        if not (creates_space or path.startswith("/api/spaces/")):
            return super().handle(request)
        self.requests.append(f"{request.method} {path}")
        for name, status in self.fail.items():
            if f"/{name}" in path:
                return self._error(status, message=f"injected failure of {name}")
        if m := re.fullmatch(r"/api/spaces/([^/]+/[^/]+)/tree/([^/]+)(/.*)?", path):
            found, error = self._lookup(request, self.space_key(m[1]), m[2])
            if error:
                return error
            _, files = found
            return httpx2.Response(200, json=[
                {"type": "file", "oid": hashlib.sha1(data).hexdigest(), "size": len(data), "path": name}
                for name, data in files.items()
            ])
        if self._token(request) != TOKEN:  # Space settings and writes need the write token
            return self._error(401, message="Invalid credentials in Authorization header")
        if creates_space:
            body = json.loads(request.content)
            space_id = f"{body.get('organization') or USER}/{body['name']}"
            url = f"{ENDPOINT}/spaces/{space_id}"
            if self.space_key(space_id) in self.repos:
                return httpx2.Response(409, json={"error": "You already created this space repo", "url": url})
            self.add_commit(self.space_key(space_id), {".gitattributes": b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"},
                            message="initial commit", private=body.get("visibility") == "private")
            self.space_sdks[space_id] = body["sdk"]
            self.variables[space_id] = {v["key"]: v["value"] for v in body.get("variables") or []}
            return httpx2.Response(200, json={"url": url})
        if m := re.fullmatch(r"/api/spaces/([^/]+/[^/]+)/variables", path):
            if self.space_key(m[1]) not in self.repos:
                return self._error(404, "RepoNotFound")
            variables = self.variables.setdefault(m[1], {})
            if request.method == "POST":
                body = json.loads(request.content)
                variables[body["key"]] = body["value"]
            elif request.method == "DELETE":
                variables.pop(json.loads(request.content)["key"], None)
            return httpx2.Response(200, json={key: {"value": value} for key, value in variables.items()})
        if re.fullmatch(r"/api/spaces/([^/]+/[^/]+)/preupload/(.+)", path):
            body = json.loads(request.content)
            return httpx2.Response(200, json={"files": [
                {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False, "oid": None} for f in body["files"]
            ]})
        if m := re.fullmatch(r"/api/spaces/([^/]+/[^/]+)/commit/(.+)", path):
            key = self.space_key(m[1])
            found, error = self._lookup(request, key, m[2])
            if error:
                return error
            files, summary = applied_commit(request, found[1])
            sha = self.add_commit(key, files, branch=m[2], message=summary)
            return httpx2.Response(200, json={"commitUrl": f"{ENDPOINT}/spaces/{m[1]}/commit/{sha}", "commitOid": sha,
                                              "pullRequestUrl": None})
        return self._error(404, message=f"the fake Hub does not serve {request.method} {path}")
