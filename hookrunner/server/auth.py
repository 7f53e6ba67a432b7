"""Bearer tokens with scopes, from ``server.tokens_file`` (TOML, sha256 or plain)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import tomllib
from typing import Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from hookrunner.config import ConfigError, secret_path

Scope = Literal["events", "flows", "admin", "read"]
SCOPES: tuple[Scope, ...] = ("events", "flows", "admin", "read")


class TokenEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    scopes: list[Scope]
    sha256: str = ""
    token: str = ""

    @model_validator(mode="after")
    def _one_secret(self) -> TokenEntry:
        if bool(self.sha256) == bool(self.token):
            raise ValueError("give exactly one of sha256 or token")
        if self.sha256 and len(self.sha256) != 64:
            raise ValueError("sha256 must be 64 hex digits")
        return self

    def digest(self) -> bytes:
        if self.sha256:
            return bytes.fromhex(self.sha256)
        return hashlib.sha256(self.token.encode()).digest()


class Caller(NamedTuple):
    name: str
    scopes: frozenset[str]


class TokenTable:
    def __init__(self, entries: list[TokenEntry]) -> None:
        self._entries = [(entry.digest(), entry) for entry in entries]

    @classmethod
    def load(cls, file_name: str) -> TokenTable:
        if not file_name:
            return cls([])
        path = secret_path(file_name)
        if not path.exists():
            return cls([])
        try:
            data = tomllib.loads(path.read_text())
            return cls([TokenEntry(**item) for item in data.get("token", [])])
        except (OSError, tomllib.TOMLDecodeError, TypeError, ValueError, ValidationError) as exc:
            raise ConfigError(f"server.tokens_file {path}: {exc}".splitlines()[0]) from None

    def identify(self, presented: str) -> Caller | None:
        """Compare digests in constant time, over every entry, whatever matches."""
        digest = hashlib.sha256(presented.encode()).digest()
        found: TokenEntry | None = None
        for known, entry in self._entries:
            if hmac.compare_digest(known, digest):
                found = entry
        return Caller(found.name, frozenset(found.scopes)) if found else None


def new_token(name: str, scopes: list[str]) -> tuple[str, str]:
    """A fresh token and the TOML entry that admits it (only its hash is stored)."""
    token = secrets.token_urlsafe(32)
    digest = hashlib.sha256(token.encode()).hexdigest()
    scope_list = ", ".join(f'"{scope}"' for scope in scopes)
    entry = f'[[token]]\nname = "{name}"\nsha256 = "{digest}"\nscopes = [{scope_list}]\n'
    return token, entry
