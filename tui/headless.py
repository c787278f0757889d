"""`storyboard regen`: queue work for the project's runner, and follow it to the end.

The batch runs in the runner, not here: closing this terminal never stops
it. On a terminal this shows Rich progress bars; piped, one plain line per
finished job, so a log file reads well. Ctrl-C asks whether to cancel the
batch or leave it running, because one key press must not throw away an hour
of GPU work; piped, it leaves the batch running and says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from tui.domain.jobs import CutJob, Job, JobState
from tui.domain.models import AssetKind
from tui.engine.client import ProjectClient, RunnerError
from tui.engine.events import (
    EngineEvent,
    JobCancelled,
    JobFailed,
    JobProgress,
    JobStarted,
    JobSucceeded,
    JobSuperseded,
    RunnerChanged,
)
from tui.engine.project import Project
from tui.engine.requests import (
    Action,
    Decision,
    Plan,
    Refused,
    Request,
    queue,
    scene_ids_of,
)
from tui.errors import StoreError
from tui.textsafe import one_line, visible

if TYPE_CHECKING:
    from rich.progress import TaskID

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

Ask = Callable[[str], str]
"""Asks the user a question on the terminal; returns the answer."""


@dataclass
class RegenRequest:
    kinds: Sequence[AssetKind]
    positions: Sequence[int] = ()
    include_missing: bool = False
    force: bool = False
    dry_run: bool = False
    wait: bool = True
    """False (`--no-wait`): queue, and leave the rest to the runner."""


@dataclass
class Tally:
    """What the batch did, for the summary and the exit status."""

    total: int = 0
    succeeded: int = 0
    failures: list[str] = field(default_factory=list)
    cancelled: int = 0

    @property
    def done(self) -> int:
        return self.succeeded + len(self.failures) + self.cancelled

    def line(self) -> str:
        return (
            f"{self.succeeded} succeeded, {len(self.failures)} failed, {self.cancelled} cancelled"
        )


def _label(job: Job, positions: dict[int, int]) -> str:
    return f"scene {positions.get(job.scene_id, '?')} {job.kind.value}"


def describe_plan(plan: Plan, out: TextIO) -> None:
    """The dry run: what would run, and why, from the why-dirty data."""
    preview = Preview(out, stream=False)
    for decision in plan.decisions:
        preview.take(decision)
    preview.finish()


class Preview:
    """A dry run's decisions as they are made: lines for what would run, counts for the rest.

    It keeps no scene, so a dry run of 100,000 scenes stays small. `stream`
    writes image lines as they come (from the database's thread); video lines
    wait for the end, so images are listed first, as they would run. Without
    `stream` everything waits for `finish()`, in case a refusal means nothing
    should be printed.
    """

    def __init__(self, out: TextIO | None, *, stream: bool) -> None:
        self.out = out
        self.stream = stream
        self.lines: list[str] = []
        self.video_lines: list[str] = []
        self.queued = 0
        self.skipped = 0
        self.refused: list[Decision] = []

    def take(self, decision: Decision) -> None:
        if decision.action is Action.QUEUE:
            self.queued += 1
            if self.out is not None:
                where = f"scene {decision.scene.position} {decision.kind.value}"
                line = f"would regenerate {where}: {one_line(decision.reason)}\n"
                if decision.kind is AssetKind.IMAGE:
                    self.lines.append(line)
                else:
                    self.video_lines.append(line)
                if self.stream and len(self.lines) >= 1000:
                    self._flush()
        elif decision.action is Action.SKIP:
            self.skipped += 1
        else:
            self.refused.append(decision)

    def _flush(self) -> None:
        if self.out is not None:
            self.out.write("".join(self.lines))
        self.lines.clear()

    def finish(self) -> None:
        self.lines.extend(self.video_lines)
        self.video_lines.clear()
        self._flush()
        if self.out is not None:
            self.out.write(f"{self.queued} job(s) would run; {self.skipped} asset(s) up to date\n")


async def regen(
    project: Project,
    request: RegenRequest,
    *,
    out: TextIO = sys.stdout,
    ask: Ask | None = None,
    client: ProjectClient | None = None,
) -> int:
    """Queue one request and follow it; returns the exit status."""
    scene_ids: list[int] | None = None
    if request.positions:
        scene_ids = [(await project.store.scene_at(p)).id for p in request.positions]
    options: dict[str, Any] = {
        "scene_ids": scene_ids,
        "include_missing": request.include_missing,
        "force": request.force,
        "explicit": bool(request.positions),
    }
    client = client or ProjectClient(project, role="cli")
    wanted = Request(
        kinds=tuple(request.kinds),
        scene_ids=scene_ids_of(scene_ids),
        include_missing=request.include_missing,
        force=request.force,
        explicit=bool(request.positions),
    )
    # Only named scenes can be refused, so only then must the lines wait for the verdict.
    preview = Preview(out if request.dry_run else None, stream=not wanted.explicit)
    await queue(project.store, wanted, client.context, dry_run=True, sink=preview.take)
    if preview.refused:
        for decision in preview.refused:
            print(f"storyboard: error: {one_line(decision.reason)}", file=sys.stderr)
        return EXIT_USAGE
    if request.dry_run:
        preview.finish()
        return EXIT_OK
    await client.start()
    try:
        return await _follow(client, request, options, out, ask)
    finally:
        await client.close()


async def _follow(
    client: ProjectClient,
    request: RegenRequest,
    options: dict[str, Any],
    out: TextIO,
    ask: Ask | None,
) -> int:
    positions = {scene.id: scene.position for scene in await client.project.scenes()}
    try:
        plan = await client.request(request.kinds, **options)
    except (RunnerError, Refused) as error:
        print(f"storyboard: error: {one_line(str(error))}", file=sys.stderr)
        return EXIT_USAGE
    ids = [job.id for job in plan.followed]
    if not ids:
        out.write(f"nothing to do: {len(plan.skipped)} asset(s) up to date\n")
        return EXIT_OK
    if not request.wait:
        pid = client.runner.pid or client.files.live_pid()
        out.write(
            f"queued {len(plan.jobs)} job(s); the runner (pid {pid or '?'}) makes them. "
            f"Follow with: storyboard runner {visible(str(client.project.folder.root))} status\n"
        )
        return EXIT_OK
    view = _RichView(out, positions) if out.isatty() else _PlainView(out, positions)
    batch = _Batch(ids, view)
    stop_listening = client.subscribe(batch.on_event)
    watch = DamageWatch(client, batch.done)
    try:
        with view:
            await batch.catch_up(client)  # jobs that ended before we listened
            await batch.done.wait()
    except asyncio.CancelledError:
        return await _interrupted(client, batch, out, ask, stop_listening)
    finally:
        watch.close()
    if watch.damage is not None:
        print(f"storyboard: error: {one_line(str(watch.damage))}", file=sys.stderr)
        return EXIT_USAGE
    return _summary(batch.tally, out)


class DamageWatch:
    """Ends a wait when the database turns out to be damaged, mid-run.

    Any read or write of this process that meets a broken page tells the
    store, which tells us. A runner that vanishes while jobs wait may have
    stopped on damage this process has not read yet, so then the whole file
    is checked once (at most every CHECK_PAUSE seconds).
    """

    CHECK_PAUSE = 5.0

    def __init__(self, client: ProjectClient, done: asyncio.Event) -> None:
        self.damage: StoreError | None = None
        self._done = done
        self._client = client
        self._checked_at = -self.CHECK_PAUSE
        self._checks: set[asyncio.Task[None]] = set()
        self._unsubscribe = [
            client.project.store.on_damage(self._damaged),
            client.subscribe(self._on_event),
        ]

    def _damaged(self, error: StoreError) -> None:
        self.damage = self.damage or error
        self._done.set()

    def _on_event(self, event: EngineEvent) -> None:
        if not isinstance(event, RunnerChanged) or event.info.state != "not running":
            return
        now = time.monotonic()
        if now - self._checked_at < self.CHECK_PAUSE:
            return
        self._checked_at = now
        task = asyncio.create_task(self._check())
        self._checks.add(task)
        task.add_done_callback(self._checks.discard)

    async def _check(self) -> None:
        with contextlib.suppress(StoreError):
            await self._client.project.store.check_integrity()

    def close(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        for task in self._checks:
            task.cancel()


class _Batch:
    """The jobs one `regen` follows, and what became of them."""

    def __init__(self, ids: Sequence[int], view: _View) -> None:
        self.pending = set(ids)
        self.tally = Tally(total=len(self.pending))
        self.view = view
        self.done = asyncio.Event()
        view.queued(self.tally)

    def on_event(self, event: EngineEvent) -> None:
        job = getattr(event, "job", None)
        if job is None or job.id not in self.pending:
            return
        if isinstance(event, JobSuperseded):
            # A newer request for the same asset took it over: not ours to count.
            self.pending.discard(job.id)
            self.tally.total -= 1
            self.view.queued(self.tally)
        elif _count(event, self.tally, self.view):
            self.pending.discard(job.id)
        if not self.pending:
            self.done.set()

    async def catch_up(self, client: ProjectClient) -> None:
        """Count the jobs that ended before we listened (one read for all of them)."""
        for event in await client.ended(sorted(self.pending)):
            self.on_event(event)
        if not self.pending:
            self.done.set()


def _count(event: EngineEvent, tally: Tally, view: _View) -> bool:
    """Count one event; True if it ended a job."""
    if isinstance(event, JobStarted):
        view.started(event.job)
    elif isinstance(event, JobProgress):
        view.progress(event.job, event.fraction)
    elif isinstance(event, JobSucceeded):
        tally.succeeded += 1
        view.finished(event.job, tally, f"done → {event.file}")
        return True
    elif isinstance(event, JobFailed):
        label = _label(event.job, view.positions)
        message = one_line(event.message)
        tally.failures.append(f"{label}: {message}")
        view.finished(event.job, tally, f"failed: {message}")
        return True
    elif isinstance(event, JobCancelled):
        tally.cancelled += 1
        view.finished(event.job, tally, "cancelled")
        return True
    return False


async def _interrupted(
    client: ProjectClient,
    batch: _Batch,
    out: TextIO,
    ask: Ask | None,
    stop_listening: Callable[[], None],
) -> int:
    """Ctrl-C: cancel the rest of the batch, or leave it to the runner."""
    await client.refresh()  # count what really finished up to now, not what we heard of
    # From here the runner's news is not ours to print: a job line after the question
    # or the summary would hide them (the batch goes on, and `runner status` shows it).
    stop_listening()
    pending, tally = batch.pending, batch.tally
    left = len(pending)
    answer = "leave"
    if ask is not None and left:
        try:
            reply = ask(
                f"\n{left} job(s) still to make. Cancel them, or leave them running? [c/L] "
            )
        except (EOFError, KeyboardInterrupt):
            reply = ""
        answer = "cancel" if reply.strip().lower().startswith("c") else "leave"
    if answer == "cancel" and left:
        cancelled = await client.cancel_jobs(pending)
        out.write(
            f"\ninterrupted: {tally.succeeded} succeeded, {len(tally.failures)} failed; "
            f"{cancelled} cancelled\n"
        )
        return EXIT_INTERRUPTED
    where = visible(str(client.project.folder.root))
    out.write(
        f"\ninterrupted: {tally.succeeded} succeeded, {len(tally.failures)} failed so far; "
        f"{left} job(s) left running in the runner "
        f"(storyboard runner {where} status, or stop)\n"
    )
    return EXIT_INTERRUPTED


def _summary(tally: Tally, out: TextIO) -> int:
    out.write(tally.line() + "\n")
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

    def queued(self, tally: Tally) -> None:
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
        # Rich loads only when there is a terminal to draw bars on.
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

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

    def queued(self, tally: Tally) -> None:
        self.bars.update(self.overall, total=tally.total, completed=tally.done)

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
            from rich.text import Text

            self.console.print(Text(f"{_label(job, self.positions)}: {outcome}"))


# -- storyboard export ---------------------------------------------------------------------


@dataclass
class ExportOptions:
    output: Path | None = None
    subtitles: bool = False
    force: bool = False
    wait: bool = True
    """False (`--no-wait`): queue the export, and leave the rest to the runner."""


async def export(
    project: Project,
    options: ExportOptions,
    *,
    out: TextIO = sys.stdout,
    ask: Ask | None = None,
    client: ProjectClient | None = None,
) -> int:
    """Queue the rough cut for the runner and follow it, like `regen`; the exit status.

    0 for a film made (or already up to date), 1 if the export failed or was
    cancelled, 2 for bad input (refused before anything is queued), 130 for Ctrl-C.
    """
    client = client or ProjectClient(project, role="cli")
    try:
        answer = await client.export(
            options.force, output=options.output, subtitles=options.subtitles
        )
    except RunnerError as error:
        print(f"storyboard: error: {one_line(str(error))}", file=sys.stderr)
        return EXIT_USAGE
    if answer.job is None:
        out.write(one_line(answer.message) + "\n")
        return EXIT_OK
    job = answer.job
    if not options.wait:
        pid = client.files.live_pid()
        out.write(
            f"queued the export of {visible(job.output)}; the runner (pid {pid or '?'}) makes "
            f"it. Follow with: storyboard runner {visible(str(project.folder.root))} status\n"
        )
        return EXIT_OK
    bar = _ExportBar(out) if out.isatty() else None
    try:
        await client.start()
        final = await client.follow_export(job.id, bar.update if bar is not None else None)
    except asyncio.CancelledError:
        if bar is not None:
            bar.close()
        return await _export_interrupted(client, job, out, ask)
    finally:
        if bar is not None:
            bar.close()
        await client.close()
    return await _export_outcome(project, final, out)


async def _export_outcome(project: Project, job: CutJob, out: TextIO) -> int:
    if job.state is JobState.SUCCEEDED:
        record = await project.store.read(lambda tx: tx.cut())
        if record is None:
            out.write("exported\n")
            return EXIT_OK
        for note in record.notes:
            out.write(f"note: {one_line(note)}\n")
        if record.job_id != job.id:
            out.write(
                f"the cut is up to date: {visible(record.file)} (nothing changed since it was "
                "made; --force makes it again)\n"
            )
            return EXIT_OK
        made = f"exported {visible(record.file)}"
        if record.subtitles:
            made += f" and {visible(record.subtitles)}"
        out.write(f"{made} ({one_line(record.how)})\n")
        return EXIT_OK
    if job.state is JobState.FAILED:
        reason = one_line(job.error or "failed")
        print(f"storyboard: error: the export failed: {reason}", file=sys.stderr)
        return EXIT_FAILED
    what = "replaced by a newer export" if job.state is JobState.SUPERSEDED else "cancelled"
    out.write(f"the export was {what}\n")
    return EXIT_FAILED


async def _export_interrupted(
    client: ProjectClient, job: CutJob, out: TextIO, ask: Ask | None
) -> int:
    """Ctrl-C: cancel the export, or leave it to the runner (piped, it is left)."""
    answer = "leave"
    if ask is not None:
        try:
            reply = ask("\nThe export is still being made. Cancel it, or leave it running? [c/L] ")
        except (EOFError, KeyboardInterrupt):
            reply = ""
        answer = "cancel" if reply.strip().lower().startswith("c") else "leave"
    if answer == "cancel" and await client.cancel_export(job.id):
        out.write("\ninterrupted: the export was cancelled; the old cut is kept\n")
        return EXIT_INTERRUPTED
    where = visible(str(client.project.folder.root))
    out.write(
        f"\ninterrupted: the export goes on in the runner (storyboard runner {where} status, "
        "or stop)\n"
    )
    return EXIT_INTERRUPTED


class _ExportBar:
    """One bar, with time left, on a terminal."""

    def __init__(self, out: TextIO) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self.bars = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeRemainingColumn(),
            console=Console(file=out, highlight=False),
        )
        self.task = self.bars.add_task("waiting for the runner", total=100)
        self.bars.start()
        self._closed = False

    def update(self, job: CutJob) -> None:
        label = "exporting" if job.state is JobState.RUNNING else "waiting for the runner"
        self.bars.update(self.task, description=label, completed=round(job.progress * 100))

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.bars.stop()
