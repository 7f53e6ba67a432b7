"""HTTPS auth with hoop's names, against git's own smart-HTTP backend behind Basic auth."""

from __future__ import annotations

import base64
import os
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import WorkRepo
from hoop_env import b64, hoop_repo_settings

from hookrunner.config import RepoSettings
from hookrunner.repo import Repository

TOKEN = "glpat-Hx7cQ2mN4pR8sT1vW3yZ"
HTTP_BACKEND = (
    Path(
        subprocess.run(
            ["git", "--exec-path"], capture_output=True, text=True, check=True
        ).stdout.strip()
    )
    / "git-http-backend"
)


class GitHttp(ThreadingHTTPServer):
    """Serves ``root`` through ``git http-backend`` to callers that present ``password``."""

    def __init__(self, root: Path, password: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.root = root
        self.password = password
        self.seen_users: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: GitHttp

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test asserts on what the server saw instead."""

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        user = self._basic_user()
        if user is None:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.server.seen_users.append(user)
        path, _, query = self.path.partition("?")
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        env = {
            "PATH": os.environ["PATH"],
            "GIT_PROJECT_ROOT": str(self.server.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            "REMOTE_USER": user,
        }
        cgi = subprocess.run([HTTP_BACKEND], input=body, env=env, capture_output=True, check=False)
        head, _, payload = cgi.stdout.partition(b"\r\n\r\n")
        headers = [line.split(":", 1) for line in head.decode().split("\r\n") if ":" in line]
        status = next((int(v.split()[0]) for k, v in headers if k.lower() == "status"), 200)
        self.send_response(status)
        for name, value in headers:
            if name.lower() != "status":
                self.send_header(name, value.strip())
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _basic_user(self) -> str | None:
        scheme, _, encoded = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        user, _, password = base64.b64decode(encoded).decode().partition(":")
        return user if password == self.server.password else None


@pytest.fixture
def git_http(work_repo: WorkRepo) -> Iterator[GitHttp]:
    server = GitHttp(work_repo.bare.parent, TOKEN)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GIT_URL", "GIT_USER", "GIT_PASSWORD", "GIT_HOOK_CONFIG_TTL", "HOOKRUNNER_CONFIG"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("encode", [str, b64], ids=["plain", "base64"])
def test_git_password_without_git_user_authenticates_as_oauth2(
    git_http: GitHttp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, encode: object
) -> None:
    assert callable(encode)
    settings = hoop_repo_settings(
        tmp_path,
        monkeypatch,
        GIT_URL=encode(f"{git_http.url}/remote.git"),
        GIT_PASSWORD=encode(TOKEN),
        GIT_HOOK_CONFIG_TTL=encode("30"),
    )
    report = Repository(settings, tmp_path / "state").refresh()
    assert report is not None and report.ok, report
    assert set(git_http.seen_users) == {"oauth2"}


def test_git_user_is_sent_when_given(
    git_http: GitHttp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = hoop_repo_settings(
        tmp_path,
        monkeypatch,
        GIT_URL=f"{git_http.url}/remote.git",
        GIT_USER=b64("deploy-bot"),
        GIT_PASSWORD=TOKEN,
    )
    report = Repository(settings, tmp_path / "state").refresh()
    assert report is not None and report.ok, report
    assert set(git_http.seen_users) == {"deploy-bot"}


def test_a_password_file_without_a_user_authenticates_as_oauth2_too(
    git_http: GitHttp, work_repo: WorkRepo, tmp_path: Path
) -> None:
    token_file = tmp_path / "git-token"
    token_file.write_text(TOKEN + "\n")
    settings = RepoSettings(url=f"{git_http.url}/remote.git", password_file=str(token_file))
    report = Repository(settings, tmp_path / "state").refresh()
    assert report is not None and report.ok, report
    assert set(git_http.seen_users) == {"oauth2"}
