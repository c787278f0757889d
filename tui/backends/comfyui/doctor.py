"""`storyboard doctor`: can these servers run these workflows, and if not, what to change.

Everything a job would trip over later is checked up front, one server at a
time: that it answers (and with which ComfyUI version), that its websocket
takes us without an Origin header, what its queue holds, and that every node
type, input and choice our workflows and bindings use exists there.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from rich.console import Console
from rich.text import Text

from tui.backends.comfyui.client import ClientError, ComfyClient, Refused
from tui.backends.comfyui.protocol import clean
from tui.backends.comfyui.workflows import (
    BoundWorkflow,
    WorkflowError,
    check_against_object_info,
    load_workflow,
)
from tui.config import ProjectConfig, ServerConfig
from tui.domain.models import AssetKind
from tui.store.folder import ProjectFolder

CHECKED_VERSION = (0, 3, 64)
"""The ComfyUI the protocol was recorded from; older ones may lack client-chosen prompt ids."""


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
    problems: dict[str, list[str]] = field(default_factory=dict)
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
    loaded: list[BoundWorkflow | WorkflowError] = []
    for kind in AssetKind:
        try:
            loaded.append(load_workflow(kind, folder, config))
        except WorkflowError as error:
            loaded.append(error)
    return loaded


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
            report.problems[workflow.label] = check_against_object_info(workflow, info)
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
            Text(
                '    fix: add [comfyui] servers = ["http://127.0.0.1:8188"] to storyboard.toml, '
                "or pass --comfyui URL",
                style="dim",
            )
        )
    for server in report.servers:
        if server.error is not None:
            console.print(_line("✗", f"{server.url}: {server.error}", "red"))
            if server.fix:
                console.print(Text(f"    fix: {server.fix}", style="dim"))
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
                console.print(_line("✗", problem, "red", indent=4))
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
