"""`storyboard regen`: the engine without the TUI, for cron jobs and plain terminals.

On a terminal it shows Rich progress bars; piped, it prints one plain line per
finished job, so a log file reads well.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from tui.backends.registry import create_backend
from tui.domain.jobs import Job
from tui.domain.models import AssetKind
from tui.engine.engine import Engine, EngineBusy, Plan
from tui.engine.events import (
    EngineEvent,
    JobCancelled,
    JobFailed,
    JobProgress,
    JobQueued,
    JobStarted,
    JobSucceeded,
)
from tui.engine.project import Project

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


@dataclass
class RegenRequest:
    kinds: Sequence[AssetKind]
    positions: Sequence[int] = ()
    include_missing: bool = False
    force: bool = False
    dry_run: bool = False


@dataclass
class Tally:
    """What the run did, for the summary and the exit status."""

    total: int = 0
    succeeded: int = 0
    failures: list[str] = field(default_factory=list)
    cancelled: int = 0

    @property
    def done(self) -> int:
        return self.succeeded + len(self.failures) + self.cancelled


def _label(job: Job, positions: dict[int, int]) -> str:
    return f"scene {positions.get(job.scene_id, '?')} {job.kind.value}"


def describe_plan(plan: Plan, out: TextIO) -> None:
    """The dry run: what would run, and why, from the why-dirty data."""
    for decision in plan.queued:
        where = f"scene {decision.scene.position} {decision.kind.value}"
        out.write(f"would regenerate {where}: {decision.reason}\n")
    out.write(f"{len(plan.queued)} job(s) would run; {len(plan.skipped)} asset(s) up to date\n")


async def regen(project: Project, request: RegenRequest, *, out: TextIO = sys.stdout) -> int:
    """Run one request to the end; returns the exit status."""
    scene_ids: list[int] | None = None
    if request.positions:
        scene_ids = [(await project.store.scene_at(p)).id for p in request.positions]
    explicit = bool(request.positions)
    backend = create_backend(project.backend_name, project.folder, project.config)
    engine = Engine(project, backend)
    options = {
        "scene_ids": scene_ids,
        "include_missing": request.include_missing,
        "force": request.force,
        "explicit": explicit,
    }
    preview = await engine.request(request.kinds, dry_run=True, **options)
    if preview.refused:
        for decision in preview.refused:
            print(f"storyboard: error: {decision.reason}", file=sys.stderr)
        return EXIT_USAGE
    if request.dry_run:
        describe_plan(preview, out)
        return EXIT_OK
    positions = {scene.id: scene.position for scene in await project.scenes()}
    try:
        await engine.start()
    except EngineBusy as error:
        print(f"storyboard: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    tally = Tally()
    try:
        if engine.resumed:
            out.write(f"resuming {engine.resumed} job(s) from an earlier run\n")
        view = _RichView(out, positions) if out.isatty() else _PlainView(out, positions)
        engine.subscribe(lambda event: _count(event, tally, view))
        for job in engine.active_jobs:
            tally.total += 1
            view.queued(job, tally)
        plan = await engine.request(request.kinds, **options)
        if not engine.active_jobs:
            view.close()
            out.write(f"nothing to do: {len(plan.skipped)} asset(s) up to date\n")
            return EXIT_OK
        with view:
            await engine.wait_idle()
    except asyncio.CancelledError:
        # Ctrl-C: cancel what runs, so nothing is left half-made or in flight.
        await engine.stop(cancel=True)
        out.write(f"\ninterrupted: {tally.done} of {tally.total} job(s) finished; rest cancelled\n")
        return EXIT_INTERRUPTED
    await engine.stop()
    return _summary(tally, out)


def _count(event: EngineEvent, tally: Tally, view: _View) -> None:
    if isinstance(event, JobQueued):
        tally.total += 1
        view.queued(event.job, tally)
    elif isinstance(event, JobStarted):
        view.started(event.job)
    elif isinstance(event, JobProgress):
        view.progress(event.job, event.fraction)
    elif isinstance(event, JobSucceeded):
        tally.succeeded += 1
        view.finished(event.job, tally, f"done → {event.file}")
    elif isinstance(event, JobFailed):
        label = _label(event.job, view.positions)
        tally.failures.append(f"{label}: {event.message}")
        view.finished(event.job, tally, f"failed: {event.message}")
    elif isinstance(event, JobCancelled):
        tally.cancelled += 1
        view.finished(event.job, tally, "cancelled")


def _summary(tally: Tally, out: TextIO) -> int:
    out.write(
        f"{tally.succeeded} succeeded, {len(tally.failures)} failed, {tally.cancelled} cancelled\n"
    )
    if tally.failures:
        out.write("failures:\n")
        for line in tally.failures:
            out.write(f"  {line}\n")
        return EXIT_FAILED
    return EXIT_OK


class _View:
    def __init__(self, out: TextIO, positions: dict[int, int]) -> None:
        self.out = out
        self.positions = positions

    def __enter__(self) -> _View:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        pass

    def queued(self, job: Job, tally: Tally) -> None:
        pass

    def started(self, job: Job) -> None:
        pass

    def progress(self, job: Job, fraction: float) -> None:
        pass

    def finished(self, job: Job, tally: Tally, outcome: str) -> None:
        pass


class _PlainView(_View):
    """One line per finished job: logs and pipes want lines, not bars."""

    def __init__(self, out: TextIO, positions: dict[int, int]) -> None:
        super().__init__(out, positions)
        self.started_at = time.monotonic()

    def finished(self, job: Job, tally: Tally, outcome: str) -> None:
        elapsed = time.monotonic() - self.started_at
        label = _label(job, self.positions)
        line = f"[{tally.done}/{tally.total}] {elapsed:6.1f}s {label}: {outcome}\n"
        self.out.write(line)
        self.out.flush()


class _RichView(_View):
    """An overall bar with time left, and one bar per job in flight."""

    def __init__(self, out: TextIO, positions: dict[int, int]) -> None:
        super().__init__(out, positions)
        self.console = Console(file=out, highlight=False)
        self.bars = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        self.overall: TaskID = self.bars.add_task("all jobs", total=0)
        self.running: dict[int, TaskID] = {}
        self.bars.start()

    def close(self) -> None:
        self.bars.stop()

    def queued(self, job: Job, tally: Tally) -> None:
        self.bars.update(self.overall, total=tally.total)

    def started(self, job: Job) -> None:
        if job.id not in self.running:
            label = _label(job, self.positions)
            self.running[job.id] = self.bars.add_task(f"  {label}", total=100)

    def progress(self, job: Job, fraction: float) -> None:
        self.started(job)
        self.bars.update(self.running[job.id], completed=round(fraction * 100))

    def finished(self, job: Job, tally: Tally, outcome: str) -> None:
        task = self.running.pop(job.id, None)
        if task is not None:
            self.bars.remove_task(task)
        self.bars.update(self.overall, completed=tally.done)
        if not outcome.startswith("done"):
            self.console.print(Text(f"{_label(job, self.positions)}: {outcome}"))
