"""The two ways to build a venv: ``uv`` (shipped as a binary in its wheel), and pip.

Both run with an environment made here, not the daemon's (so no stray ``PIP_*`` / ``UV_*``
variable or user config changes what is installed), with the index URL passed in that
environment rather than on the command line, where any local user could read it.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Protocol

from hookrunner.config import EnvironmentSettings
from hookrunner.environments.errors import EnvironmentBuildError
from hookrunner.environments.requirements import Requirements
from hookrunner.logs import redact_url

# What a build may need from the daemon's environment: the way out, and the CA store.
PASSED_THROUGH = (
    "PATH",
    "LANG",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
)
ERROR_LINES = 8
INTERPRETER = "executor.interpreter"
STEP = "installing"


class Installer(Protocol):
    """Creates a venv for an interpreter and installs a requirements file into it."""

    name: str

    def create(self, venv: Path, executable: str) -> None: ...

    def install(self, venv: Path, requirements_file: Path, requirements: Requirements) -> None: ...


def run_build_step(
    argv: list[str], env: dict[str, str], timeout: float, source: str, step: str
) -> None:
    """Run one build command in its own session; the whole session dies on timeout."""
    with subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    ) as process:
        try:
            output, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise EnvironmentBuildError(source, f"{step} took longer than {timeout:g} s") from None
    if process.returncode != 0:
        lines = output.decode("utf-8", "replace").strip().splitlines()[-ERROR_LINES:]
        detail = " | ".join(line.strip() for line in lines if line.strip())
        detail = redact_url(detail or f"exit {process.returncode}")
        raise EnvironmentBuildError(source, f"{step}: {detail}")


def package_options(
    settings: EnvironmentSettings, requirements: Requirements, wheels_only: list[str]
) -> list[str]:
    """Where packages come from and what is accepted, in the flags both installers share."""
    options = []
    for link in settings.find_links:
        options += ["--find-links", link]
    if settings.no_index:
        options.append("--no-index")
    if not settings.allow_source_builds:
        options += wheels_only
    if requirements.hashed:
        options.append("--require-hashes")
    return options


def base_environment(home: Path) -> dict[str, str]:
    env = {name: os.environ[name] for name in PASSED_THROUGH if name in os.environ}
    env.setdefault("PATH", os.defpath)
    env["HOME"] = str(home)
    return env


class UvInstaller:
    name = "uv"

    def __init__(self, uv: str, settings: EnvironmentSettings, cache: Path) -> None:
        self.uv = uv
        self.settings = settings
        self.cache = cache

    def _env(self) -> dict[str, str]:
        env = base_environment(self.cache)
        env.update(
            UV_NO_CONFIG="1",
            UV_PYTHON_DOWNLOADS="never",
            UV_CACHE_DIR=str(self.cache / "uv"),
            UV_LINK_MODE="copy",  # the environment must not share files with the cache
            NO_COLOR="1",
        )
        if self.settings.index_url:
            env["UV_DEFAULT_INDEX"] = self.settings.index_url
        return env

    def create(self, venv: Path, executable: str) -> None:
        argv = [self.uv, "venv", "--quiet", "--relocatable", "--python", executable, str(venv)]
        run_build_step(argv, self._env(), self.settings.build_timeout, INTERPRETER, "uv venv")

    def install(self, venv: Path, requirements_file: Path, requirements: Requirements) -> None:
        argv = [self.uv, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python")]
        argv += ["--no-progress", "-r", str(requirements_file)]
        argv += package_options(self.settings, requirements, ["--no-build"])
        timeout = self.settings.build_timeout
        run_build_step(argv, self._env(), timeout, requirements.shown, STEP)


class PipInstaller:
    name = "pip"

    def __init__(self, settings: EnvironmentSettings, cache: Path) -> None:
        self.settings = settings
        self.cache = cache

    def _env(self) -> dict[str, str]:
        env = base_environment(self.cache)
        env.update(
            PIP_CONFIG_FILE=os.devnull,
            PIP_CACHE_DIR=str(self.cache / "pip"),
            PIP_DISABLE_PIP_VERSION_CHECK="1",
            PIP_NO_INPUT="1",
        )
        if self.settings.index_url:
            env["PIP_INDEX_URL"] = self.settings.index_url
        return env

    def create(self, venv: Path, executable: str) -> None:
        argv = [executable, "-I", "-m", "venv", str(venv)]
        timeout = self.settings.build_timeout
        run_build_step(argv, self._env(), timeout, INTERPRETER, "python -m venv")

    def install(self, venv: Path, requirements_file: Path, requirements: Requirements) -> None:
        argv = [str(venv / "bin" / "python"), "-I", "-m", "pip", "install", "--quiet"]
        argv += ["-r", str(requirements_file)]
        argv += package_options(self.settings, requirements, ["--only-binary", ":all:"])
        timeout = self.settings.build_timeout
        run_build_step(argv, self._env(), timeout, requirements.shown, STEP)


def default_installer(settings: EnvironmentSettings, cache: Path) -> Installer:
    """``uv`` from the installed ``uv`` package; pip when it is missing."""
    try:
        from uv import find_uv_bin

        return UvInstaller(find_uv_bin(), settings, cache)
    except (ImportError, FileNotFoundError):
        return PipInstaller(settings, cache)
