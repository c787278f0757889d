"""The rough cut as a job of the project: queued by any client, made by the runner.

`storyboard export` and the TUI only queue the export (one transaction) and
follow it in the database; the runner assembles the film in a thread, with
progress and cancel, so a dropped SSH link never kills an export. The film is
written like every asset: a temp file in its destination folder, fsync,
rename, fsync the folder, one transaction to record it with the inputs it was
made from, and only then the old film deleted; a killed export leaves the old
cut whole, and the next runner clears the half-written temp file.

The cut's staleness is the asset rule again: its record keeps the inputs it
was made from (`tui.domain.cut`), so exporting again when nothing changed is
a no-op that says so, and `status` can say why it is stale.

An export waits for the scene jobs queued before it, so "regenerate, then
export" exports the new clips.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import os
import re
import shutil
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tui.domain.cut import (
    CutInputs,
    CutRecord,
    CutScene,
    CutState,
    cut_state,
    cut_status_line,
    film_row,
    why_cut,
)
from tui.domain.jobs import CutJob, JobState
from tui.domain.models import RenderSettings, Scene
from tui.engine.project import Project
from tui.errors import StoreError
from tui.folder import ProjectFolder, fsync_dir
from tui.store.audio import check_audio
from tui.store.repository import ProjectStore
from tui.store.transaction import Tx

log = logging.getLogger(__name__)

EXPORTS = "exports"
"""Where a film goes unless `-o` says otherwise: inside the project folder."""
TEMP_PREFIX = ".tmp-"
PROGRESS_EVERY = 0.5
"""Seconds between progress writes to the database (clients poll it)."""
LOOK_EVERY = 1.0
"""Seconds between looks at the journal when nobody pokes the runner."""
STOPPED_TWICE = "the runner stopped twice while exporting this; not trying a third time"
NO_SCENES = "nothing to export: the storyboard has no scenes"


# -- where the film goes -------------------------------------------------------------------


def slug(name: str) -> str:
    """A file name from the project's name: `The Lighthouse Keeper` → `the-lighthouse-keeper`."""
    text = re.sub(r"[^a-z0-9]+", "-", name.lower().encode("ascii", "ignore").decode()).strip("-")
    return text[:60].strip("-") or "film"


def default_output(folder: ProjectFolder, name: str) -> Path:
    return folder.root / EXPORTS / f"{slug(name)}.mp4"


def stored_name(folder: ProjectFolder, path: Path) -> str:
    """How the database keeps a film's path: relative inside the project, absolute outside."""
    try:
        return path.relative_to(folder.root).as_posix()
    except ValueError:
        return str(path)


def film_path(folder: ProjectFolder, stored: str) -> Path:
    path = Path(stored)
    return path if path.is_absolute() else folder.root / path


def subtitles_for(output: Path) -> Path:
    return output.with_suffix(".srt")


def check_output(path: Path) -> Path:
    """The film's absolute path, or a one-line refusal: it must be an .mp4 in a folder that
    exists and can be written (checked before anything is queued)."""
    path = path.expanduser().absolute()
    if path.suffix.lower() != ".mp4":
        raise StoreError(f"{path}: the rough cut is an MP4; give a name ending in .mp4")
    if path.is_dir():
        raise StoreError(f"{path}: is a folder; give a file name ending in .mp4")
    parent = path.parent
    if not parent.is_dir():
        raise StoreError(f"{path}: cannot write here: the folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise StoreError(f"{path}: cannot write here: the folder {parent} is not writable")
    if path.exists() and not os.access(path, os.W_OK) and not os.access(parent, os.W_OK):
        raise StoreError(f"{path}: cannot be replaced (not writable)")
    return path


def temp_paths(output: Path, key: str) -> tuple[Path, Path]:
    """The film's and the subtitles' temp names, in the folder they land in: found again
    by the job's key when a killed export is cleared up."""
    tag = key.replace("-", "")[:8]
    return (
        output.with_name(f"{TEMP_PREFIX}{tag}-{output.name}"),
        output.with_name(f"{TEMP_PREFIX}{tag}-{subtitles_for(output).name}"),
    )


# -- the cut's state, for status and the TUI's header ----------------------------------------


@dataclass(frozen=True)
class CutView:
    """What `status` says about the film."""

    state: CutState
    file: str | None
    """The current film, as stored (`exports/film.mp4`), or None."""
    why: list[str]
    line: str

    def json(self) -> dict[str, Any]:
        return {"state": self.state.value, "file": self.file, "why": self.why}


def cut_view(
    folder: ProjectFolder,
    record: CutRecord | None,
    rows: Sequence[CutScene],
    settings: RenderSettings,
) -> CutView:
    """The film's state against the scenes as they are now (rows from `film_row`)."""
    current: CutInputs = {
        "width": settings.width,
        "height": settings.height,
        "fps": settings.fps,
        "scenes": list(rows),
    }
    stored = dict(record.inputs) if record is not None else None
    state = cut_state(stored, current)
    if state is CutState.NONE:
        return CutView(state, None, [], "cut: none (no scenes)")
    if record is None:
        return CutView(CutState.MISSING, None, ["no cut yet"], "cut: missing (not exported yet)")
    if not film_path(folder, record.file).is_file():
        why = [f"{record.file} is gone"]
        return CutView(CutState.MISSING, record.file, why, f"cut: missing ({record.file} is gone)")
    if state is CutState.CLEAN:
        return CutView(state, record.file, [], f"cut: clean ({record.file})")
    why = why_cut(stored, current) or ["inputs changed"]
    return CutView(state, record.file, why, cut_status_line(stored, current))


async def cut_status(project: Project) -> CutView:
    """The film's state now (one read of every scene)."""
    present = project.store.files.has

    def work(tx: Tx) -> tuple[CutRecord | None, list[CutScene]]:
        record = tx.cut()
        unreadable = record.unreadable if record is not None else frozenset()
        return record, [film_row(scene, present, unreadable) for scene in tx.iter_scenes()]

    record, rows = await project.store.read(work)
    return cut_view(project.folder, record, rows, project.settings)


# -- queueing (any client) ----------------------------------------------------------------------


@dataclass(frozen=True)
class ExportRequest:
    """The answer to "export": the job queued (or already queued), or why nothing is."""

    job: CutJob | None
    message: str
    up_to_date: bool = False


async def request_export(
    project: Project, *, output: Path, subtitles: bool = False, force: bool = False
) -> ExportRequest:
    """Queue the rough cut in one transaction, unless nothing changed since the last one.

    A request like one already waiting is that one; a different one (another
    file, `--force`) replaces it. With scene jobs in flight the answer cannot
    be known yet, so the export is queued and waits for them.
    """
    await asyncio.to_thread(project.store.files.refresh)
    present = project.store.files.has
    folder, settings = project.folder, project.settings
    params = {"output": str(output), "subtitles": subtitles, "force": force}

    def work(tx: Tx) -> ExportRequest:
        count = tx.db.execute("SELECT count(*) FROM scenes").fetchone()[0]
        if not count:
            raise StoreError(NO_SCENES)
        for job in tx.active_cut_jobs():
            if job.params == params:
                return ExportRequest(job, "already queued")
            tx.set_cut_job(job.id, state=JobState.SUPERSEDED)
        if not force and not tx.active_jobs():
            record = tx.cut()
            if record is not None and _still_current(tx, record, present, settings, output):
                if not subtitles or record.subtitles:
                    where = record.file
                    return ExportRequest(
                        None,
                        f"the cut is up to date: {where} (nothing changed since it was "
                        "made; --force makes it again)",
                        up_to_date=True,
                    )
        job = tx.insert_cut_job(params, str(uuid.uuid4()))
        return ExportRequest(job, "queued")

    def _still_current(
        tx: Tx,
        record: CutRecord,
        present: Callable[[str], bool],
        settings: RenderSettings,
        output: Path,
    ) -> bool:
        if record.file != stored_name(folder, output) or not output.is_file():
            return False
        rows = [film_row(scene, present, record.unreadable) for scene in tx.iter_scenes()]
        return cut_view(folder, record, rows, settings).state is CutState.CLEAN

    return await project.store.atomically(work)


async def cut_job(store: ProjectStore, job_id: int) -> CutJob:
    job = await store.read(lambda tx: tx.cut_job(job_id))
    if job is None:
        raise StoreError(f"no export job {job_id}")
    return job


async def cancel_export(store: ProjectStore, job_id: int) -> bool:
    """Cancel an export that is still waiting or running; the runner stops it."""
    ended = await store.atomically(lambda tx: tx.set_cut_job(job_id, state=JobState.CANCELLED))
    return ended is not None


# -- making the film (the runner) -------------------------------------------------------------


class _Stop(Exception):
    """The runner is stopping: put the export back in line for the next one."""


@dataclass
class _Progress:
    """Shared between the exporting thread and the loop."""

    done: int = 0
    total: int = 0
    cancel: threading.Event = field(default_factory=threading.Event)
    stopping: bool = False


class Exporter:
    """The runner's part that makes the rough cut, one export at a time, in a thread."""

    def __init__(self, project: Project, *, on_change: Callable[[], None] | None = None) -> None:
        self.project = project
        self._on_change = on_change or (lambda: None)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._running: CutJob | None = None
        self._progress: _Progress | None = None
        self._waiting = 0
        """Cut jobs queued at the last look."""

    @property
    def counts(self) -> tuple[int, int]:
        """(running, queued) export jobs, for the runner's state."""
        return (1 if self._running is not None else 0), self._waiting

    @property
    def idle(self) -> bool:
        return self._running is None and not self._waiting

    @property
    def progress(self) -> float:
        progress = self._progress
        if progress is None or not progress.total:
            return 0.0
        return progress.done / progress.total

    async def start(self) -> None:
        """Reconcile exports a killed runner left running, then start looking for work."""
        await self._reconcile()
        self._task = asyncio.create_task(self._loop(), name="exporter")

    def poke(self) -> None:
        self._wake.set()

    async def stop(self, *, cancel: bool = False) -> None:
        """Stop; the export in hand is cancelled (`cancel`) or put back in line for the next
        runner, and its temp file removed either way."""
        progress = self._progress
        if progress is not None:
            progress.stopping = not cancel
            progress.cancel.set()
        if cancel:
            store = self.project.store

            def cancel_all(tx: Tx) -> None:
                for job in tx.active_cut_jobs():
                    tx.set_cut_job(job.id, state=JobState.CANCELLED)

            with contextlib.suppress(StoreError):
                await store.atomically(cancel_all)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _reconcile(self) -> None:
        folder = self.project.folder

        def work(tx: Tx) -> list[CutJob]:
            redo: list[CutJob] = []
            for job in tx.active_cut_jobs():
                if job.state is JobState.QUEUED:
                    continue
                if job.state is JobState.RUNNING and job.attempts >= 1:
                    tx.set_cut_job(job.id, state=JobState.FAILED, error=STOPPED_TWICE)
                else:
                    attempts = job.attempts + (1 if job.state is JobState.RUNNING else 0)
                    tx.set_cut_job(job.id, state=JobState.QUEUED, attempts=attempts, progress=0)
                redo.append(job)
            return redo

        for job in await self.project.store.atomically(work):
            for temp in temp_paths(Path(job.output), job.key):
                _remove_file(temp)
            _remove_tree(_snapshot_dir(folder, job))

    async def _loop(self) -> None:
        while True:
            try:
                await self._look()
            except asyncio.CancelledError:
                raise
            except StoreError as error:
                log.warning("export: cannot read the journal: %s", error)
            except Exception:
                log.exception("export: looking for work failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(LOOK_EVERY):
                    await self._wake.wait()

    async def _look(self) -> None:
        store = self.project.store
        jobs = await store.read(lambda tx: tx.active_cut_jobs())
        queued = [job for job in jobs if job.state is JobState.QUEUED]
        self._waiting = len(queued)
        if not queued:
            return
        job = queued[0]
        if await store.read(lambda tx: tx.scene_jobs_before(job.id)):
            return  # the regenerations queued before it come first
        claimed = await store.atomically(
            lambda tx: tx.set_cut_job(job.id, expect={JobState.QUEUED}, state=JobState.RUNNING)
        )
        if claimed is None:
            return
        self._waiting -= 1
        self._running = claimed
        self._progress = _Progress()
        self._on_change()
        try:
            await self._run(claimed, self._progress)
        finally:
            self._running = None
            self._progress = None
            self._on_change()

    async def _run(self, job: CutJob, progress: _Progress) -> None:
        watcher = asyncio.create_task(self._watch(job, progress), name="export-watch")
        try:
            await self._make(job, progress)
        except _Stop:
            await self._put_back(job)
        except _Gone:
            pass  # cancelled or replaced while it ran: the journal already says so
        except asyncio.CancelledError:
            await asyncio.shield(self._put_back(job))
            raise
        except Exception as error:  # one line for the creator, whatever broke
            message = _message(error)
            log.warning("export %d failed: %s", job.id, message)
            with contextlib.suppress(StoreError):
                await self.project.store.atomically(
                    lambda tx: tx.set_cut_job(job.id, state=JobState.FAILED, error=message)
                )
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

    async def _put_back(self, job: CutJob) -> None:
        """A runner that stops (not a crash) leaves the export queued, not counted against it."""
        with contextlib.suppress(StoreError):
            await self.project.store.atomically(
                lambda tx: tx.set_cut_job(
                    job.id, expect={JobState.RUNNING}, state=JobState.QUEUED, progress=0
                )
            )

    async def _watch(self, job: CutJob, progress: _Progress) -> None:
        """Write progress now and then, and notice a cancel made by any client."""
        store = self.project.store
        written = -1.0
        while not progress.cancel.is_set():
            await asyncio.sleep(PROGRESS_EVERY)
            fraction = round(progress.done / progress.total, 3) if progress.total else 0.0
            try:
                if fraction != written:
                    moved = await store.atomically(
                        functools.partial(_set_progress, job_id=job.id, fraction=fraction)
                    )
                else:
                    moved = await store.read(lambda tx: tx.cut_job(job.id))
            except StoreError:
                continue
            if moved is None or moved.state is not JobState.RUNNING:
                progress.cancel.set()  # a client cancelled it, or a newer export replaced it
                return
            if fraction != written:
                written = fraction
                self._on_change()

    async def _make(self, job: CutJob, progress: _Progress) -> None:
        project = self.project
        store, folder, settings = project.store, project.folder, project.settings
        output = Path(job.output)
        await asyncio.to_thread(store.files.refresh)
        check = await check_audio(store, folder, write=True)
        notes = list(check.problems)
        scenes = await store.scenes()
        if not scenes:
            raise ExportFailed(NO_SCENES)
        record = await store.read(lambda tx: tx.cut())
        unreadable = await asyncio.to_thread(_unreadable_clips, folder, scenes, notes)
        present = store.files.has
        rows = [film_row(scene, present, unreadable) for scene in scenes]
        view = cut_view(folder, record, rows, settings)
        same_file = record is not None and record.file == stored_name(folder, output)
        if (
            not job.force
            and view.state is CutState.CLEAN
            and same_file
            and (not job.subtitles or (record is not None and record.subtitles))
        ):
            await self._finish(job, None, notes)
            return
        temp, temp_srt = temp_paths(output, job.key)
        snapshot = _snapshot_dir(folder, job)
        try:
            plan = await asyncio.to_thread(_plan, folder, scenes, rows, settings, snapshot)
            result = await asyncio.to_thread(_assemble, plan, temp, output, progress)
            if progress.cancel.is_set():
                raise _Stop() if progress.stopping else _Gone()
            srt = None
            if job.subtitles:
                await asyncio.to_thread(_write_srt, plan, temp_srt)
                srt = subtitles_for(output)
            content_hash = await asyncio.to_thread(_sha256, temp)
            await asyncio.to_thread(_put_in_place, temp, output, temp_srt, srt)
        finally:
            _remove_file(temp)
            _remove_file(temp_srt)
            await asyncio.to_thread(_remove_tree, snapshot)
        inputs: dict[str, Any] = {
            "width": settings.width,
            "height": settings.height,
            "fps": settings.fps,
            "scenes": rows,
            "unreadable": sorted(unreadable),
        }
        how = ("video copied: " if result.copied else "video re-encoded: ") + result.reason
        made = CutRecord(
            file=stored_name(folder, output),
            content_hash=content_hash,
            inputs=inputs,
            subtitles=stored_name(folder, srt) if srt is not None else None,
            how=how,
            notes=tuple(notes),
            job_id=job.id,
            created=datetime.now(UTC),
        )
        await self._finish(job, made, notes)

    async def _finish(self, job: CutJob, made: CutRecord | None, notes: list[str]) -> None:
        """Record the new film and end the job in one transaction, then delete the old film."""
        folder = self.project.folder

        def work(tx: Tx) -> CutRecord | None:
            old = tx.put_cut(made) if made is not None else None
            if made is None:
                record = tx.cut()
                if record is not None and notes != list(record.notes):
                    tx.put_cut(_with_notes(record, notes))
            tx.set_cut_job(job.id, state=JobState.SUCCEEDED, progress=1.0)
            return old

        old = await self.project.store.atomically(work)
        if old is not None and made is not None:
            for before, now in ((old.file, made.file), (old.subtitles, made.subtitles)):
                if before and before != now:
                    _remove_old(folder, before)


class ExportFailed(Exception):
    """An export that cannot be made; the message is one line for the creator."""


class _Gone(Exception):
    """The job was cancelled or replaced while it ran."""


def _with_notes(record: CutRecord, notes: Iterable[str]) -> CutRecord:
    return CutRecord(
        file=record.file,
        content_hash=record.content_hash,
        inputs=record.inputs,
        subtitles=record.subtitles,
        how=record.how,
        notes=tuple(notes),
        job_id=record.job_id,
        created=record.created,
    )


def _message(error: BaseException) -> str:
    return " ".join((str(error) or type(error).__name__).split())


def _set_progress(tx: Tx, *, job_id: int, fraction: float) -> CutJob | None:
    return tx.set_cut_job(job_id, expect={JobState.RUNNING}, progress=fraction)


def _unreadable_clips(
    folder: ProjectFolder, scenes: Sequence[Scene], notes: list[str]
) -> frozenset[str]:
    """Clips that cannot even be opened: their scenes use the still (or a title card), as a
    missing clip would, and each is noted once."""
    from tui.media.errors import MediaError
    from tui.media.frames import probe_clip

    found: set[str] = set()
    for scene in scenes:
        video = scene.video
        if video is None:
            continue
        try:
            path = folder.resolve_asset(video.file)
        except StoreError:
            continue
        if not path.is_file():
            continue
        try:
            probe_clip(path)
        except MediaError as error:
            found.add(video.content_hash)
            stand_in = "its still" if scene.image is not None else "a title card"
            notes.append(f"scene {scene.position}: {error}; {stand_in} is used instead")
    return frozenset(found)


def _snapshot_dir(folder: ProjectFolder, job: CutJob) -> Path:
    return folder.root / ".storyboard" / f"export-{job.key.replace('-', '')[:8]}"


def _pin(path: Path, snapshot: Path) -> Path:
    """A hard link to an input, so a regeneration that replaces (and deletes) it while the
    film is made cannot pull it away; the file itself where links cannot be made.

    Each link keeps the file's own name, in a numbered folder of its own, so what the
    export says about it ("scene 2: scene-0002-….mp4 is 64x48") names the creator's file.
    """
    snapshot.mkdir(parents=True, exist_ok=True)
    slot = snapshot / f"{len(os.listdir(snapshot)):06d}"
    try:
        slot.mkdir()
        pinned = slot / path.name
        os.link(path, pinned)
    except OSError:
        return path
    return pinned


def _plan(
    folder: ProjectFolder,
    scenes: Sequence[Scene],
    rows: Sequence[CutScene],
    settings: RenderSettings,
    snapshot: Path,
) -> Any:
    """The media library's plan: each scene's picture (as `film_row` chose it) and audio."""
    from tui.media.cut import CutItem, CutPlan

    items = []
    for scene, row in zip(scenes, rows, strict=True):
        clip = still = audio = None
        if row["visual"] == "clip" and scene.video is not None:
            clip = _pin(folder.resolve_asset(scene.video.file), snapshot)
        elif row["visual"] == "still" and scene.image is not None:
            still = _pin(folder.resolve_asset(scene.image.file), snapshot)
        if row["audio"] is not None and scene.audio_file:
            audio = _pin(folder.resolve_asset(scene.audio_file), snapshot)
        items.append(
            CutItem(
                duration=scene.audio_duration,
                clip=clip,
                still=still,
                narration=scene.narration,
                audio=audio,
                label=f"scene {scene.position}",
            )
        )
    return CutPlan(items, settings.width, settings.height, settings.fps)


def _assemble(plan: Any, temp: Path, output: Path, progress: _Progress) -> Any:
    from tui.media.cut import CutCancelled, assemble
    from tui.media.errors import MediaError

    def report(done: int, total: int) -> None:
        progress.done, progress.total = done, total

    try:
        return assemble(
            plan, temp, name=str(output), progress=report, cancel=progress.cancel.is_set
        )
    except CutCancelled:
        raise (_Stop() if progress.stopping else _Gone()) from None
    except MediaError as error:
        raise ExportFailed(str(error)) from None


def _write_srt(plan: Any, path: Path) -> None:
    from tui.media.cut import write_srt
    from tui.media.errors import MediaError

    try:
        write_srt(plan, path)
    except MediaError as error:
        raise ExportFailed(str(error)) from None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _put_in_place(temp: Path, output: Path, temp_srt: Path, srt: Path | None) -> None:
    """Rename the finished film (and its subtitles) over their names; fsync the folder."""
    try:
        if srt is not None:
            os.replace(temp_srt, srt)
        os.replace(temp, output)
    except OSError as error:
        raise ExportFailed(f"cannot write {output}: {error.strerror or error}") from None
    fsync_dir(output.parent)


def _remove_file(path: Path) -> None:
    """Remove a temp file the export made; never anything but a regular file or a link."""
    with contextlib.suppress(OSError):
        if path.is_symlink() or path.is_file():
            path.unlink()


def _remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def _remove_old(folder: ProjectFolder, stored: str) -> None:
    """Delete a replaced film, only if it lies inside the project (a film written elsewhere
    with -o is the creator's to keep) and is a regular file or a link."""
    path = film_path(folder, stored)
    if Path(stored).is_absolute():
        return
    if path.parts[: len(folder.root.parts)] != folder.root.parts:
        return
    _remove_file(path)
