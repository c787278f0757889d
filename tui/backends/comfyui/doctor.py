"""`storyboard doctor`: can these servers run these workflows, and if not, what to change.

Everything a job would trip over later is checked up front, one server at a
time: that it answers (and with which ComfyUI version), that its websocket
takes us without an Origin header, what its queue holds, and that every node
type, input and choice our workflows and bindings use exists there, down to
each checkpoint, LoRA, sampler and scheduler.

`preflight` is the same model check for a client about to queue a batch: a
batch no server can run is refused with one message instead of failing each
of its jobs. `resolve_servers` decides which servers a command talks to.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from pydantic import ValidationError
from rich.console import Console
from rich.text import Text
from websockets.asyncio.client import ClientConnection

from tui.backends.comfyui.client import ClientError, ComfyClient, Refused
from tui.backends.comfyui.protocol import clean
from tui.backends.comfyui.workflows import (
    BoundWorkflow,
    Problem,
    WorkflowError,
    find_problems,
    load_workflow,
    refusal,
)
from tui.config import ConfigError, ProjectConfig, ServerConfig
from tui.domain.models import AssetKind
from tui.folder import ProjectFolder

CHECKED_VERSION = (0, 3, 64)
"""The ComfyUI the protocol was recorded from; older ones may lack client-chosen prompt ids."""
DEFAULT_SERVER = "http://127.0.0.1:8188"
"""Where ComfyUI listens out of the box; doctor checks it when nothing else is configured."""
NO_SERVERS = (
    "no ComfyUI server to run on: add [comfyui] servers = [...] to storyboard.toml "
    "or pass --comfyui URL"
)


@dataclass
class ServerReport:
    """What one server said, and what to do about it."""

    url: str
    reachable: bool = False
    error: str | None = None
    fix: str | None = None
    version: str | None = None
    running: int = 0
    pending: int = 0
    websocket: bool = False
    problems: dict[str, list[Problem]] = field(default_factory=dict)
    """Workflow label → what this server lacks for it."""
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.reachable and self.websocket and not any(self.problems.values())


@dataclass
class DoctorReport:
    servers: list[ServerReport]
    workflows: list[BoundWorkflow]
    workflow_errors: list[str]

    @property
    def ok(self) -> bool:
        return bool(self.servers) and not self.workflow_errors and all(s.ok for s in self.servers)


def load_workflows(
    folder: ProjectFolder, config: ProjectConfig
) -> list[BoundWorkflow | WorkflowError]:
    """The project's image and video workflows, or the error that stops each one loading."""
    return list(load_workflow_map(folder, config).values())


def load_workflow_map(
    folder: ProjectFolder, config: ProjectConfig
) -> dict[AssetKind, BoundWorkflow | WorkflowError]:
    """`load_workflows` by kind, as `preflight` takes them."""
    loaded: dict[AssetKind, BoundWorkflow | WorkflowError] = {}
    for kind in AssetKind:
        try:
            loaded[kind] = load_workflow(kind, folder, config)
        except WorkflowError as error:
            loaded[kind] = error
    return loaded


def resolve_servers(
    flags: Sequence[str],
    project: ProjectConfig | None,
    user_servers: Sequence[str] | Callable[[], Sequence[str]] = (),
) -> list[ServerConfig]:
    """The servers a command checks: `--comfyui` flags, else the project's storyboard.toml
    servers (with their headers), else the user's `comfyui_servers`, else DEFAULT_SERVER.

    `user_servers` may be a callable so that the user's config file is read only
    when it decides anything; a broken one then cannot spoil `--comfyui URL`.
    Raises ConfigError naming the bad URL.
    """
    if flags:
        return [_server(url, "--comfyui") for url in flags]
    if project is not None and project.comfyui.servers:
        return list(project.comfyui.servers)
    users = user_servers() if callable(user_servers) else user_servers
    if users:
        return [_server(url, "comfyui_servers") for url in users]
    return [ServerConfig(url=DEFAULT_SERVER)]


def _server(url: str, where: str) -> ServerConfig:
    try:
        return ServerConfig(url=url)
    except ValidationError as error:
        message = str(error.errors()[0]["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"{where}: {message}") from None


def _fix_for(error: ClientError) -> str:
    text = str(error).lower()
    if isinstance(error, Refused) and error.status in (401, 403):
        return (
            "the server (or a proxy in front of it) wants credentials: add "
            'headers = { Authorization = "..." } to this server in storyboard.toml'
        )
    if isinstance(error, Refused) and error.status == 404:
        return "this URL is not a ComfyUI server; if it sits under a path, include the path"
    if "refused" in text:
        return (
            "start ComfyUI, or fix the URL in storyboard.toml [comfyui] servers; a server on "
            "another machine needs --listen"
        )
    if "timed out" in text:
        return "check the host, port and firewall, or raise [comfyui] timeout"
    return "check the URL in storyboard.toml [comfyui] servers"


def _version_tuple(version: str) -> tuple[int, ...] | None:
    try:
        return tuple(int(part) for part in version.split(".")[:3])
    except ValueError:
        return None


async def _check_server(
    server: ServerConfig, workflows: Sequence[BoundWorkflow], timeout: float
) -> ServerReport:
    report = ServerReport(server.url)
    client = ComfyClient(server, client_id=f"doctor-{uuid.uuid4().hex[:12]}", timeout=timeout)
    try:
        stats = await client.system_stats()
        report.reachable = True
        system = stats.get("system")
        version = system.get("comfyui_version") if isinstance(system, dict) else None
        if isinstance(version, str):
            report.version = clean(version, 40)
            parsed = _version_tuple(version)
            if parsed is not None and parsed < CHECKED_VERSION:
                report.warnings.append(
                    f"ComfyUI {report.version} is older than "
                    f"{'.'.join(map(str, CHECKED_VERSION))}, which Storyboard was checked "
                    "against; update ComfyUI if jobs are not found again after a restart"
                )
        running, pending = await client.queue()
        report.running, report.pending = len(running), len(pending)
        socket = await client.connect()
        report.websocket = True
        await socket.close()
        info = await client.object_info()
        for workflow in workflows:
            report.problems[workflow.label] = find_problems(workflow, info)
    except ClientError as error:
        report.error = str(error).removeprefix(f"{server.url}: ")
        report.fix = _fix_for(error)
    finally:
        await client.aclose()
    return report


async def run_doctor(
    servers: Sequence[ServerConfig],
    workflows: Sequence[BoundWorkflow | WorkflowError],
    timeout: float,
) -> DoctorReport:
    """Check every server (at once) against the workflows that loaded."""
    good = [w for w in workflows if isinstance(w, BoundWorkflow)]
    errors = [str(w) for w in workflows if isinstance(w, WorkflowError)]
    reports = await asyncio.gather(*(_check_server(s, good, timeout) for s in servers))
    return DoctorReport(list(reports), good, errors)


def _line(mark: str, text: str, style: str, indent: int = 2) -> Text:
    return Text.assemble(" " * indent, (mark, style), " ", text)


def _fix(text: str, indent: int) -> Text:
    """A fix, indented under the problem line it belongs to (whose text starts at indent+2)."""
    return Text(f"{' ' * (indent + 4)}fix: {text}", style="dim")


def print_report(report: DoctorReport, console: Console) -> int:
    """Print the report with a fix under each problem; 0 when all is well, else 1."""
    console.print(Text("Workflows", style="bold"))
    for workflow in report.workflows:
        console.print(
            _line("✓", f"{workflow.kind.value}: {workflow.label} ({workflow.workflow_id})", "green")
        )
    for error in report.workflow_errors:
        console.print(_line("✗", error, "red"))
    console.print(Text("Servers", style="bold"))
    if not report.servers:
        console.print(_line("✗", "no servers configured", "red"))
        console.print(
            _fix(
                f'add [comfyui] servers = ["{DEFAULT_SERVER}"] to storyboard.toml, '
                "or pass --comfyui URL",
                2,
            )
        )
    for server in report.servers:
        if server.error is not None:
            console.print(_line("✗", f"{server.url}: {server.error}", "red"))
            if server.fix:
                console.print(_fix(server.fix, 2))
            continue
        facts = [f"ComfyUI {server.version or '(version unknown)'}"]
        facts.append(f"queue {server.running} running, {server.pending} pending")
        facts.append("websocket ok" if server.websocket else "websocket refused")
        mark, style = ("✓", "green") if server.ok else ("✗", "red")
        console.print(_line(mark, f"{server.url}: {' · '.join(facts)}", style))
        for warning in server.warnings:
            console.print(_line("!", warning, "yellow", indent=4))
        for label, problems in server.problems.items():
            if not problems:
                console.print(_line("✓", f"{label}: every node and input is available", "green", 4))
            for problem in problems:
                console.print(_line("✗", problem.text, "red", indent=4))
                if problem.fix:
                    console.print(_fix(problem.fix, 4))
    count = len(report.workflow_errors) + sum(
        (0 if s.error is None else 1) + sum(len(p) for p in s.problems.values())
        for s in report.servers
    )
    if report.ok:
        console.print(Text("All good.", style="bold green"))
        return 0
    noun = "problem" if count == 1 else "problems"
    console.print(Text(f"{max(count, 1)} {noun} found.", style="bold red"))
    return 1


# -- before a batch -------------------------------------------------------------------------


@dataclass(eq=False)
class _Checked:
    """What one server passed, kept while our websocket to it stays open."""

    socket: ClientConnection
    watcher: asyncio.Task[None] | None = None
    passed: set[str] = field(default_factory=set)
    """Workflow ids that server can run."""

    @property
    def alive(self) -> bool:
        return self.watcher is not None and not self.watcher.done()


class PreflightCache:
    """Per-server check results for `preflight`, kept until the server restarts.

    The restart signal is the websocket: a ComfyUI that stops or restarts drops
    every socket (the recorded restart closes with 1006 and no close frame), and
    nothing in its REST answers says it restarted. So each entry holds one idle
    socket to its server, read and discarded in the background; while it stays
    open the server is the process that passed the check. A socket that closed
    sends the next preflight back to `/object_info`. Only passes are kept: a
    refusal is checked afresh every time, so a model put in place is found at
    once. Call `close` when done.
    """

    def __init__(self) -> None:
        self._entries: dict[str, _Checked] = {}

    def live(self, url: str) -> bool:
        """Our socket to `url` is still open: it has not restarted since we checked."""
        entry = self._entries.get(url)
        return entry is not None and entry.alive

    def passed(self, url: str, workflow_id: str) -> bool:
        entry = self._entries.get(url)
        return entry is not None and entry.alive and workflow_id in entry.passed

    def remember(
        self, url: str, socket: ClientConnection | None, workflow_ids: Iterable[str]
    ) -> bool:
        """Keep what `url` passed; `socket` (opened before the check) starts a new entry.

        Returns whether `socket` is now the entry's (else the caller closes it).
        """
        entry = self._entries.get(url)
        if entry is not None and entry.alive:
            entry.passed.update(workflow_ids)
            return False
        if socket is None:
            return False
        if entry is not None and entry.watcher is not None:
            entry.watcher.cancel()
        entry = _Checked(socket, passed=set(workflow_ids))
        entry.watcher = asyncio.create_task(_drain(socket), name=f"preflight {url}")
        self._entries[url] = entry
        return True

    async def close(self) -> None:
        entries = list(self._entries.values())
        self._entries.clear()
        for entry in entries:
            if entry.watcher is not None:
                entry.watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await entry.watcher
            await _close_quietly(entry.socket)


async def _drain(socket: ClientConnection) -> None:
    """Read and drop whatever the server sends, so its publisher never waits on us."""
    with contextlib.suppress(Exception):
        async for _frame in socket:
            pass


async def _close_quietly(socket: ClientConnection) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(socket.close(), 1.0)


async def _problems_on(
    server: ServerConfig,
    workflows: Sequence[BoundWorkflow],
    timeout: float,
    cache: PreflightCache | None,
) -> dict[AssetKind, list[Problem]] | None:
    """What `server` lacks per kind, or None when it cannot be asked (down, refusing)."""
    todo = [w for w in workflows if cache is None or not cache.passed(server.url, w.workflow_id)]
    if not todo:
        return {workflow.kind: [] for workflow in workflows}
    client = ComfyClient(server, client_id=uuid.uuid4().hex, timeout=timeout)
    socket: ClientConnection | None = None
    try:
        if cache is not None and not cache.live(server.url):
            with contextlib.suppress(Refused):  # no socket: the answer is not kept
                socket = await client.connect()  # first, so a restart after it is seen
        info = await client.object_info()
    except ClientError:
        if socket is not None:
            await _close_quietly(socket)
        return None
    finally:
        await client.aclose()
    found = {workflow.kind: find_problems(workflow, info) for workflow in todo}
    passed = [w.workflow_id for w in todo if not found[w.kind]]
    kept = cache is not None and bool(passed) and cache.remember(server.url, socket, passed)
    if socket is not None and not kept:
        await _close_quietly(socket)
    return {workflow.kind: found.get(workflow.kind, []) for workflow in workflows}


async def preflight(
    servers: Sequence[ServerConfig],
    workflows: Mapping[AssetKind, BoundWorkflow | WorkflowError],
    kinds: Iterable[AssetKind],
    *,
    timeout: float,
    cache: PreflightCache | None = None,
) -> str | None:
    """The one message that refuses a batch of `kinds`, or None when it may go ahead.

    A batch is refused when a workflow does not load, when no server is
    configured, or when every server that answers lacks something the
    workflow needs (a checkpoint, a node type, a sampler). Servers that do not
    answer are no reason to refuse: jobs wait for them. Run it once per batch;
    `cache` keeps each server's passes until it restarts.
    """
    wanted = list(dict.fromkeys(kinds))
    bound: list[BoundWorkflow] = []
    for kind in wanted:
        workflow = workflows.get(kind)
        if isinstance(workflow, WorkflowError):
            return str(workflow)
        if workflow is not None:
            bound.append(workflow)
    if not bound:
        return None
    if not servers:
        return NO_SERVERS
    found = await asyncio.gather(*(_problems_on(s, bound, timeout, cache) for s in servers))
    answered = {s.url: f for s, f in zip(servers, found, strict=True) if f is not None}
    refusals = []
    for workflow in bound:
        per_server = {url: problems[workflow.kind] for url, problems in answered.items()}
        if per_server and all(per_server.values()):
            refusals.append(refusal(per_server))
    return "; ".join(refusals) or None
