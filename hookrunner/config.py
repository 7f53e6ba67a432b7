"""Settings: a TOML file, overridden by ``HOOKRUNNER_<SECTION>__<KEY>`` and hoop's ``GIT_*`` names.

One model is the single source of defaults, so the example config, the docs and the
daemon never disagree. Secrets can be given as files (re-read when used) and relative
secret paths resolve against systemd's ``$CREDENTIALS_DIRECTORY``.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

DEFAULT_CONFIG_PATH = Path("/etc/hookrunner/hookrunner.toml")


class ConfigError(Exception):
    """A configuration problem, phrased as one line naming the key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class RepoSettings(_Section):
    url: str = ""
    branch: str = ""
    subdir: str = ""
    ttl: float = Field(default=60, ge=0)
    refresh_wait: float = Field(default=2.0, ge=0)
    ssh_key_file: str = ""
    ssh_key: SecretStr = SecretStr("")
    ssh_user: str = ""
    ssh_key_passphrase: SecretStr = SecretStr("")
    known_hosts_file: str = ""
    username: str = ""
    password: SecretStr = SecretStr("")
    password_file: str = ""
    fetch_timeout: float = Field(default=120, gt=0)

    @field_validator("subdir")
    @classmethod
    def _subdir_stays_inside(cls, value: str) -> str:
        parts = Path(value).parts
        if value.startswith("/") or ".." in parts:
            raise ValueError("must be a relative path inside the repository")
        return value.strip("/")


class ExecutorSettings(_Section):
    interpreter: str = "python3"
    timeout: float = Field(default=30, gt=0)
    kill_grace: float = Field(default=5, ge=0)
    max_concurrency: int = Field(default=8, ge=1)
    max_output_bytes: int = Field(default=65536, ge=1024)
    env_passthrough: list[str] = ["PATH", "LANG", "LC_ALL", "TZ"]
    env: dict[str, str] = {}
    pass_connection_envs: bool = False
    user: str = ""
    max_processes: int = Field(default=256, ge=1)
    max_memory_bytes: int = Field(default=1 << 30, ge=16 << 20)
    max_file_bytes: int = Field(default=64 << 20, ge=0)
    sandbox: Literal["auto", "bwrap", "none"] = "auto"
    cgroup: Literal["auto", "required", "off"] = "auto"


class RetrySettings(_Section):
    max_attempts: int = Field(default=3, ge=1)
    backoff: list[float] = [5, 30, 300]

    @field_validator("backoff")
    @classmethod
    def _backoff_not_empty(cls, value: list[float]) -> list[float]:
        if not value or any(step < 0 for step in value):
            raise ValueError("must be a non-empty list of non-negative seconds")
        return value

    def delay_before(self, attempt: int) -> float:
        """Seconds to wait before ``attempt`` (2 = the first retry)."""
        return self.backoff[min(attempt - 2, len(self.backoff) - 1)]


class ServerSettings(_Section):
    listen: str = "127.0.0.1:8080"
    unix_socket: str = ""
    tokens_file: str = "/etc/hookrunner/tokens.toml"
    max_body_bytes: int = Field(default=1 << 20, ge=1024)

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        if value:
            host, sep, port = value.rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
                raise ValueError("must be HOST:PORT, e.g. 127.0.0.1:8080")
        return value

    @property
    def host_port(self) -> tuple[str, int]:
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)


class WebhookSettings(_Section):
    hoop_secret: SecretStr = SecretStr("")
    hoop_secret_file: str = ""
    git_secret: SecretStr = SecretStr("")
    git_secret_file: str = ""
    tolerance: float = Field(default=300, gt=0)


class StateSettings(_Section):
    dir: Path = Path("/var/lib/hookrunner")


class LogSettings(_Section):
    format: Literal["json", "console", "auto"] = "auto"
    level: Literal["debug", "info", "warning", "error"] = "info"


class RoleSettings(_Section):
    """Who ``PermissionLevel.ADMIN`` and ``MEMBER`` mean (DESIGN §7): e-mails or globs."""

    admins: list[str] = []
    members: list[str] = []


class IntegrationSettings(_Section):
    """One ``[integrations.<name>]`` table (DESIGN §12); secrets stay in the daemon."""

    type: str
    external_id: str = ""
    api_url: str = ""
    token_file: str = ""
    signing_secret_file: str = ""
    settings: dict[str, Any] = {}
    secrets: dict[str, str] = {}


class _HoopGitEnvSource(PydanticBaseSettingsSource):
    """hoop's own variable names, so an existing gateway's environment keeps working."""

    NAMES = {
        "GIT_URL": "url",
        "GIT_USER": "username",
        "GIT_PASSWORD": "password",
        "GIT_SSH_USER": "ssh_user",
        "GIT_SSH_KEYPASS": "ssh_key_passphrase",
        "GIT_SSH_KNOWN_HOSTS": "known_hosts_file",
        "GIT_HOOK_CONFIG_TTL": "ttl",
    }

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        repo: dict[str, Any] = {
            key: os.environ[name] for name, key in self.NAMES.items() if os.environ.get(name)
        }
        ssh_key = os.environ.get("GIT_SSH_KEY", "")
        if ssh_key:
            # hoop passes the key itself; a path is accepted too.
            repo["ssh_key" if "PRIVATE KEY" in ssh_key else "ssh_key_file"] = ssh_key
        return {"repo": repo} if repo else {}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="HOOKRUNNER_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    repo: RepoSettings = RepoSettings()
    executor: ExecutorSettings = ExecutorSettings()
    retry: RetrySettings = RetrySettings()
    server: ServerSettings = ServerSettings()
    webhooks: WebhookSettings = WebhookSettings()
    state: StateSettings = StateSettings()
    log: LogSettings = LogSettings()
    roles: RoleSettings = RoleSettings()
    integrations: dict[str, IntegrationSettings] = {}

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The TOML file arrives as init values; the environment overrides it.
        return env_settings, _HoopGitEnvSource(settings_cls), init_settings


def _describe(error: Any) -> str:
    location = ".".join(str(part) for part in error["loc"])
    value = error.get("input")
    shown = "" if isinstance(value, dict | list) or value is None else f" (got {value!r})"
    return f"{location}: {error['msg']}{shown}"


def config_path_from(explicit: str | Path | None) -> tuple[Path, bool]:
    """The file to read and whether its absence is an error."""
    if explicit:
        return Path(explicit), True
    from_env = os.environ.get("HOOKRUNNER_CONFIG")
    if from_env:
        return Path(from_env), True
    return DEFAULT_CONFIG_PATH, False


def load_settings(
    explicit: str | Path | None = None, only: tuple[str, ...] | None = None
) -> Settings:
    """Read settings, raising ``ConfigError`` with one line that names the bad key.

    ``only`` keeps just those sections of the file (``dry-run`` needs no server config).
    """
    path, required = config_path_from(explicit)
    data: dict[str, Any] = {}
    if path.exists():
        try:
            data = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: {exc}") from None
    elif required:
        raise ConfigError(f"{path}: config file not found")
    if only is not None:
        data = {section: value for section, value in data.items() if section in only}
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError("; ".join(_describe(e) for e in exc.errors())) from None


def secret_path(name: str) -> Path:
    """Resolve a secret file name; relative names live in ``$CREDENTIALS_DIRECTORY``."""
    path = Path(name)
    credentials = os.environ.get("CREDENTIALS_DIRECTORY")
    if not path.is_absolute() and credentials:
        return Path(credentials) / path
    return path


def read_secret(literal: SecretStr, file_name: str) -> str:
    """A secret from its file when one is named (read fresh each call), else the literal."""
    if file_name:
        return secret_path(file_name).read_text().strip()
    return literal.get_secret_value()
