"""Repository settings as a hoop gateway's ``GIT_*`` environment gives them."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from hookrunner.config import RepoSettings, load_settings


def hoop_repo_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **env: str) -> RepoSettings:
    """Set ``env`` and load an otherwise empty config, so only the environment speaks."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    config = tmp_path / "hookrunner.toml"
    config.write_text("")
    return load_settings(config).repo


def b64(text: str) -> str:
    """How hoop may hand over any value: base64 of its UTF-8."""
    return base64.b64encode(text.encode()).decode()
