"""Settings: a TOML file, overridden by ``HOOKRUNNER_<SECTION>__<KEY>`` and hoop's ``GIT_*`` names.

One model is the single source of defaults, so the example config, the docs and the
daemon never disagree. Secrets can be given as files (re-read when used) and relative
secret paths resolve against systemd's ``$CREDENTIALS_DIRECTORY``.
"""

from __future__ import annotations

import os
import tomllib
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from hookrunner.hoop_values import HoopValueError, hoop_value, is_known_hosts, is_private_key
from hookrunner.logs import SECRET_KEY, redact_url

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
    known_hosts: str = ""
    username: str = ""
    password: SecretStr = SecretStr("")
    password_file: str = ""
    fetch_timeout: float = Field(default=120, gt=0)
    max_snapshot_bytes: int = Field(default=256 << 20, ge=1)

    @field_validator("known_hosts")
    @classmethod
    def _known_hosts_content(cls, value: str) -> str:
        if value and not is_known_hosts(value):
            raise ValueError("must be known_hosts content (lines of: host keytype key)")
        return value

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
    # warm: fork hooks from a pre-started interpreter per hook environment (DESIGN §5).
    mode: Literal["warm", "spawn"] = "warm"
    warm_max_forks: int = Field(default=1000, ge=1)
    warm_max_age: float = Field(default=600, gt=0)


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
    # Open connections at once (further ones get 503 and are closed), lowered at start
    # to fit the process's file descriptor limit.
    max_connections: int = Field(default=512, ge=1)
    # Seconds a connection may stay open without a complete request (new or kept alive).
    idle_timeout: float = Field(default=10, gt=0)

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


class JournalSettings(_Section):
    """Where the journal lives (DESIGN §6, §14): empty ``url`` is SQLite in the state dir;
    ``postgresql://…`` is a database shared by a fleet of hosts."""

    # May carry a password: a secret, never logged.
    url: SecretStr = SecretStr("")
    # Seconds a host's claim on a run or timer lasts unless renewed; after that, another
    # host takes the work over.
    lease: float = Field(default=30, ge=2)

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: SecretStr) -> SecretStr:
        url = value.get_secret_value()
        if url and not url.startswith(("postgresql://", "postgres://")):
            raise ValueError("must be empty (SQLite in state.dir) or postgresql://…")
        return value


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
    api_url: str = ""  # the API's address; for aws_lambda, boto3's endpoint_url
    region: str = ""  # aws_lambda: the AWS region
    token_file: str = ""
    signing_secret_file: str = ""
    settings: dict[str, Any] = {}
    secrets: dict[str, str] = {}


class EnvironmentSettings(_Section):
    """How hook environments (``requirements.txt`` venvs, DESIGN §13) are built."""

    index_url: str = ""
    find_links: list[str] = []
    no_index: bool = False
    allow_source_builds: bool = False
    build_timeout: float = Field(default=600, gt=0)
    max_bytes: int = Field(default=2 << 30, ge=1 << 20)


class _HoopGitEnvSource(PydanticBaseSettingsSource):
    """hoop's own variable names and meanings, so an existing gateway's environment works.

    Values may be plain or base64-encoded as hoop's plugin config stores them
    (:mod:`hookrunner.hoop_values`). ``GIT_SSH_KNOWN_HOSTS`` is the known_hosts content,
    and ``GIT_SSH_KEY`` the key itself (a path there is read as ``ssh_key_file``).
    """

    NAMES = {
        "GIT_URL": "url",
        "GIT_USER": "username",
        "GIT_PASSWORD": "password",
        "GIT_SSH_USER": "ssh_user",
        "GIT_SSH_KEYPASS": "ssh_key_passphrase",
        "GIT_SSH_KNOWN_HOSTS": "known_hosts",
        "GIT_HOOK_CONFIG_TTL": "ttl",
    }

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        try:
            repo: dict[str, Any] = {
                key: hoop_value(name, os.environ[name])
                for name, key in self.NAMES.items()
                if os.environ.get(name)
            }
            ssh_key = os.environ.get("GIT_SSH_KEY", "")
            if ssh_key:
                ssh_key = hoop_value("GIT_SSH_KEY", ssh_key)
                repo["ssh_key" if is_private_key(ssh_key) else "ssh_key_file"] = ssh_key
        except HoopValueError as exc:
            raise ConfigError(str(exc)) from None
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
    journal: JournalSettings = JournalSettings()
    log: LogSettings = LogSettings()
    roles: RoleSettings = RoleSettings()
    integrations: dict[str, IntegrationSettings] = {}
    environments: EnvironmentSettings = EnvironmentSettings()

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


class LiveSettings:
    """The daemon's one settings holder. Every component reads its section through it at
    the moment of use, so a reload (SIGHUP) that calls :meth:`replace` reaches them all."""

    def __init__(self, settings: Settings) -> None:
        self.current = settings

    def replace(self, settings: Settings) -> None:
        self.current = settings

    @property
    def repo(self) -> RepoSettings:
        return self.current.repo

    @property
    def executor(self) -> ExecutorSettings:
        return self.current.executor

    @property
    def retry(self) -> RetrySettings:
        return self.current.retry

    @property
    def server(self) -> ServerSettings:
        return self.current.server

    @property
    def webhooks(self) -> WebhookSettings:
        return self.current.webhooks

    @property
    def state(self) -> StateSettings:
        return self.current.state

    @property
    def journal(self) -> JournalSettings:
        return self.current.journal

    @property
    def log(self) -> LogSettings:
        return self.current.log

    @property
    def roles(self) -> RoleSettings:
        return self.current.roles

    @property
    def integrations(self) -> dict[str, IntegrationSettings]:
        return self.current.integrations

    @property
    def environments(self) -> EnvironmentSettings:
        return self.current.environments


# What components read settings from: fixed ones (tests, dry-run) or the daemon's holder.
SettingsView = Settings | LiveSettings
RepoSource = RepoSettings | Callable[[], RepoSettings]


def repo_settings(source: RepoSource) -> RepoSettings:
    """The repository settings in force now, from fixed settings or a live source."""
    return source if isinstance(source, RepoSettings) else source()


def _may_echo(loc: tuple[Any, ...]) -> bool:
    """Whether the value at ``loc`` can be shown in an error: only a known field that holds
    no secret. An unknown key may be a misspelt secret, so its value is never shown."""
    model: type[BaseModel] = Settings
    parts = list(loc)
    while parts:
        field = model.model_fields.get(str(parts.pop(0)))
        if field is None or field.annotation is SecretStr or SECRET_KEY.search(str(loc[-1])):
            return False
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
            continue
        args = typing.get_args(annotation)
        if typing.get_origin(annotation) is dict:
            if args and isinstance(args[-1], type) and issubclass(args[-1], BaseModel):
                model = args[-1]  # a named table such as [integrations.<name>]
                parts = parts[1:]
                continue
            return False  # free-form tables (executor.env, secrets) may hold anything
        return True
    return False


def _describe(error: Any) -> str:
    location = ".".join(str(part) for part in error["loc"])
    value = error.get("input")
    plain = value is not None and not isinstance(value, dict | list)
    shown = f" (got {redact_url(repr(value))})" if plain and _may_echo(error["loc"]) else ""
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
