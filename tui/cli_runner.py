"""`storyboard runner DIR [status|stop|log]`: look at, stop, or read the project's runner.

The runner is detached from every terminal, so this is how a creator back on
a new SSH session finds out what it did while they were away.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tui.domain.jobs import JobState
from tui.engine.project import Project
from tui.engine.runfiles import RunFiles
from tui.textsafe import visible

if TYPE_CHECKING:
    from rich.console import Console

EXIT_OK = 0
EXIT_FAILED = 1


async def runner_summary(project: Project) -> dict[str, Any]:
    """pid, state and job counts, from the lock and the database (no socket needed)."""
    files = RunFiles(project.folder.root)
    pid = files.live_pid()
    jobs, exports = await project.store.read(lambda tx: (tx.active_jobs(), tx.active_cut_jobs()))
    states = [job.state for job in jobs] + [job.state for job in exports]
    queued = sum(1 for state in states if state is JobState.QUEUED)
    running = len(states) - queued
    if pid is None:
        state = "not running"
    else:
        state = "running" if states else "idle"
    export = None
    if exports:
        job = exports[-1]
        export = {"state": job.state.value, "progress": job.progress, "output": job.output}
    return {
        "pid": pid,
        "state": state,
        "running": running,
        "queued": queued,
        "export": export,
    }


def runner_line(summary: dict[str, Any]) -> str:
    """One line for `storyboard status`; the export, when there is one, counts as a job."""
    export = summary.get("export")
    if summary["pid"] is None:
        line = "runner: not running"
        waiting = summary["running"] + summary["queued"]
        if waiting:
            line += f" ({waiting} job(s) waiting; opening the project or `regen` starts it)"
        return line
    counts = [f"{summary['running']} running"] if summary["running"] else []
    if summary["queued"]:
        counts.append(f"{summary['queued']} queued")
    line = f"runner: pid {summary['pid']}, " + (", ".join(counts) if counts else "idle")
    if export is not None:
        if export["state"] == "running":
            line += f" (exporting, {round(export['progress'] * 100)}%)"
        else:
            line += " (an export waits)"
    return line


async def runner_command(path: Path, action: str, *, lines: int, out: Console) -> int:
    """`storyboard runner DIR [status|stop|log]`."""
    async with await Project.open(path) as project:
        if action == "log":
            return _show_log(RunFiles(project.folder.root), lines, out)
        if action == "stop":
            return await _stop(project, out)
        return await _status(project, out)


async def _status(project: Project, out: Console) -> int:
    from rich.text import Text

    summary = await runner_summary(project)
    out.print(Text(runner_line(summary)))
    files = RunFiles(project.folder.root)
    if summary["pid"] is not None:
        state = files.read_state()
        backend = state.get("backend", "?")
        servers = visible(", ".join(map(str, state.get("servers") or [])))
        line = f"  renders with {visible(str(backend))}" + (f" ({servers})" if servers else "")
        out.print(Text(line))
    out.print(Text(f"  log: {visible(str(files.log))}"))
    failures = await project.store.recent_failures(5)
    if failures:
        out.print(Text("last errors:"))
        for job, position, when in failures:
            stamp = when[:19].replace("T", " ")
            message = visible(job.error or "failed")
            out.print(Text(f"  {stamp}  scene {position} {job.kind.value}: {message}"))
    return EXIT_OK


async def _stop(project: Project, out: Console) -> int:
    from rich.text import Text

    from tui.engine.client import ProjectClient

    files = RunFiles(project.folder.root)
    pid = files.live_pid()
    if pid is None:
        out.print(Text("runner: not running"))
        return EXIT_OK
    client = ProjectClient(project, role="cli", auto_start=False)
    await client.start()
    try:
        for _ in range(60):
            if client.connected:
                break
            await asyncio.sleep(0.05)
        if client.connected:
            stopped = await client.stop_runner()
        else:
            # No socket to ask through: cancel in the database, then a polite SIGTERM.
            cancelled = await client.cancel_all()
            if pid > 0:
                os.kill(pid, signal.SIGTERM)
            out.print(Text(f"cancelled {cancelled} job(s); asked process {pid} to stop"))
            stopped = await _gone(files, 10.0)
    finally:
        await client.close()
    if stopped:
        out.print(Text(f"runner {pid} stopped; its jobs were cancelled"))
        return EXIT_OK
    out.print(Text(f"runner {pid} did not stop within 10 s"))
    return EXIT_FAILED


async def _gone(files: RunFiles, timeout: float) -> bool:
    for _ in range(int(timeout / 0.05)):
        if files.live_pid() is None:
            return True
        await asyncio.sleep(0.05)
    return False


def _show_log(files: RunFiles, lines: int, out: Console) -> int:
    from rich.text import Text

    try:
        with files.log.open(encoding="utf-8", errors="replace") as handle:
            tail = deque(handle, maxlen=max(1, lines))
    except FileNotFoundError:
        out.print(Text(f"no runner log yet ({visible(str(files.log))})"))
        return EXIT_OK
    for line in tail:
        out.print(Text(visible(line.rstrip("\n"))), soft_wrap=True)
    return EXIT_OK
