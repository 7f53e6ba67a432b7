"""Which flows of a snapshot are served, and what each defines (DESIGN §7, fail closed).

A flow is served only when its ``flow.toml`` is valid, the integrations it names are
configured, and the harness's ``describe`` imported its ``impl.py`` and found no name
the runtime does not know. Anything else makes the flow broken, with the reason, and
every event on it is refused with :class:`FlowUnavailable`. ``describe`` runs contained,
through the executor, once per (commit, flow).
"""

from __future__ import annotations

import asyncio
import time
from typing import NamedTuple

import cachetools
import structlog

from hookrunner.config import IntegrationSettings, SettingsView
from hookrunner.flows.definition import (
    DEESCALATE_RUNBOOK,
    FlowDefinition,
    FlowError,
    FlowSettings,
    load_flow,
)
from hookrunner.flows.errors import FlowUnavailable
from hookrunner.flows.events import Actor, FlowView, event_document
from hookrunner.flows.grants import INTEGRATION_STRATEGIES, target_problem
from hookrunner.flows.runner import FlowRunner
from hookrunner.flows.sym._names import HOOK_NAMES, REDUCER_NAMES
from hookrunner.hook_runtime import HookRuntime
from hookrunner.repo import HookIndex

log = structlog.get_logger("hookrunner.flows")


class Described(NamedTuple):
    """What ``impl.py`` defines, as the harness found on importing it."""

    hooks: frozenset[str] = frozenset()
    reducers: frozenset[str] = frozenset()
    prefetch: frozenset[str] = frozenset()
    strategy: str | None = None


class ServedFlow(NamedTuple):
    """A flow the engine may run: its files, what ``impl.py`` defines, its event view."""

    definition: FlowDefinition
    described: Described
    view: FlowView

    @property
    def slug(self) -> str:
        return self.definition.slug

    def defines(self, name: str) -> bool:
        described = self.described
        return name in described.hooks or name in described.reducers


class FlowState(NamedTuple):
    """One flow of a snapshot for ``GET /v1/flows``: served, or broken and why."""

    slug: str
    flow: ServedFlow | None
    error: str | None

    def to_dict(self) -> dict[str, object]:
        document: dict[str, object] = {"slug": self.slug, "served": self.flow is not None}
        document["error"] = self.error
        if self.flow is not None:
            view = self.flow.view.document()
            described = self.flow.described
            document |= {key: view[key] for key in ("fields", "targets", "allow_revoke")} | {
                "strategy": view["strategy"]["type"],
                "integrations": sorted(self.flow.view.integrations),
                "hooks": sorted(described.hooks),
                "reducers": sorted(described.reducers),
                "prefetch": sorted(described.prefetch),
            }
        return document


def integrations_of(
    definition: FlowDefinition, configured: dict[str, IntegrationSettings]
) -> dict[str, IntegrationSettings]:
    """The configured integrations a flow names; :class:`FlowError` for a missing one, or
    for an integration strategy without its integration or target settings."""
    missing = [name for name in definition.settings.integrations if name not in configured]
    if missing:
        raise FlowError(
            f"{definition.slug}/flow.toml: integration {missing[0]!r} is not configured"
            f" (no [integrations.{missing[0]}] in the daemon's config)"
        )
    listed = {name: configured[name] for name in definition.settings.integrations}
    strategy = definition.settings.strategy
    if strategy in INTEGRATION_STRATEGIES and not any(
        name == strategy or settings.type == strategy for name, settings in listed.items()
    ):
        raise FlowError(
            f"{definition.slug}/flow.toml: strategy = {strategy!r} needs a {strategy}"
            " integration in integrations = [...]"
        )
    problem = target_problem(definition)
    if problem is not None:
        raise FlowError(f"{problem} (flow.toml)")
    return listed


def _problems(definition: FlowDefinition, described: Described, unknown: list[str]) -> str | None:
    """Why a flow that imported cannot be served, if it cannot."""
    slug = definition.slug
    unknown = unknown + sorted(
        (described.hooks - set(HOOK_NAMES)) | (described.reducers - set(REDUCER_NAMES))
    )
    if unknown:
        return f"{slug}/impl.py defines hooks or reducers the runtime does not know: " + ", ".join(
            unknown
        )
    declared = {field.name for field in definition.settings.fields}
    stray = sorted(described.prefetch - declared)
    if stray:
        return f"{slug}/impl.py: @prefetch for {stray[0]!r}, which flow.toml does not declare"
    if definition.settings.strategy == "custom" and described.strategy is None:
        return f"{slug}: strategy = 'custom' but impl.py defines no AccessStrategy subclass"
    return None


class Catalog:
    """The describe results, cached per (commit, slug); failures of a describe that
    timed out or was killed are not cached, since the next try may succeed."""

    def __init__(self, settings: SettingsView, runtime: HookRuntime) -> None:
        self.settings = settings
        self.runtime = runtime
        self._known: cachetools.LRUCache[tuple[str, str], ServedFlow | str] = cachetools.LRUCache(
            maxsize=1024
        )
        self._describing: dict[tuple[str, str], asyncio.Lock] = {}

    async def served(self, index: HookIndex, slug: str) -> ServedFlow:
        """The flow ``slug``; :class:`NotFound`, or :class:`FlowUnavailable` if broken."""
        state = await self.state(index, slug)
        if state.flow is None:
            raise FlowUnavailable(f"flow {slug} is not served: {state.error}")
        return state.flow

    def degraded(self, index: HookIndex, slug: str) -> ServedFlow:
        """A broken flow reduced to its deescalate step, with no hook: access is always
        removable. :class:`NotFound` if the flow is gone from the snapshot; its error if
        not even the strategy can be told (``flow.toml`` unreadable and no deescalate
        runbook), so the removal is retried rather than skipped."""
        try:
            definition = load_flow(index, slug)
        except FlowError:
            definition = FlowDefinition(slug, index.snapshot.path / "flows" / slug, FlowSettings())
            if definition.runbook(DEESCALATE_RUNBOOK) is None:
                raise
        view = FlowView(definition, frozenset(), {})
        return ServedFlow(definition, Described(), view)

    async def state(self, index: HookIndex, slug: str) -> FlowState:
        key = (index.snapshot.commit, slug)
        known = self._known.get(key)
        if known is None:
            lock = self._describing.setdefault(key, asyncio.Lock())
            async with lock:
                known = self._known.get(key)
                if known is None:
                    known = await self._describe(index, slug)
            self._describing.pop(key, None)
        if isinstance(known, str):
            return FlowState(slug, None, known)
        return FlowState(slug, known, None)

    async def states(self, index: HookIndex) -> list[FlowState]:
        return [await self.state(index, slug) for slug in sorted(index.flows)]

    def broken(self, commit: str) -> dict[str, str]:
        """The flows of ``commit`` known to be broken, and why (from what was described)."""
        return {
            slug: known
            for (at, slug), known in list(self._known.items())
            if at == commit and isinstance(known, str)
        }

    async def _describe(self, index: HookIndex, slug: str) -> ServedFlow | str:
        key = (index.snapshot.commit, slug)
        try:
            definition = load_flow(index, slug)  # NotFound propagates: not a broken flow
            integrations = integrations_of(definition, self.settings.integrations)
        except FlowError as exc:
            self._known[key] = str(exc)
            return str(exc)
        view = FlowView(definition, frozenset(), integrations)
        event = event_document("describe", view, None, Actor(None, "api"), {}, time.time(), _guest)
        runner = FlowRunner(self.settings.executor, self.runtime, index.snapshot.commit, "describe")
        call = await runner.hook(definition, "describe", event, "")
        if not call.ok:
            error = f"{slug}/impl.py does not import: {call.error}"
            log.error("flow_unavailable", flow=slug, error=error)
            if call.result.status in ("succeeded", "failed"):
                self._known[key] = error
            return error
        value = call.value
        described = Described(
            frozenset(value["hooks"]),
            frozenset(value["reducers"]),
            frozenset(value["prefetch"]),
            value["strategy"],
        )
        problem = _problems(definition, described, list(value["unknown"]))
        if problem is not None:
            log.error("flow_unavailable", flow=slug, error=problem)
            self._known[key] = problem
            return problem
        served = ServedFlow(definition, described, view._replace(prefetch=described.prefetch))
        self._known[key] = served
        return served


def _guest(_email: str) -> str:
    return "guest"
