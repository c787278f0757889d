"""One write transaction on the database thread, as plain sqlite3 calls.

Queueing a batch of regenerations reads the scenes, reads the jobs already in
flight, decides, and writes new job rows. Any process may do that at any time
(a TUI, a second TUI, `storyboard regen`), so it must be one `BEGIN IMMEDIATE`
transaction; and at 10,000 scenes it must not pay a thread hop per statement.
`Tx` is what such a transaction sees: synchronous calls on the connection,
run inside `ProjectStore.atomically`.

Every job change stamps the row with the project's next revision, so any
viewer can ask "what changed since revision N" for jobs as it does for scenes.
Job transitions are compare-and-set: a job only moves out of a state it is
still in, so a runner finishing a job and a client cancelling it can race,
and exactly one of them wins.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, cast

from pydantic import BaseModel

from tui.domain.camera import CameraMovement
from tui.domain.cut import CutRecord
from tui.domain.edits import changed_fields, normalize
from tui.domain.jobs import ACTIVE_STATES, CutJob, Job, JobState
from tui.domain.models import Asset, AssetKind, Scene
from tui.errors import (
    DatabaseDamaged,
    DiskFull,
    NotFoundError,
    ReadOnlyProject,
    StoreError,
)

SCENE_SELECT = """
SELECT s.id, s.position, s.narration, s.audio_file, s.audio_duration, s.image_prompt,
       s.negative_prompt, s.seed, s.video_prompt, s.camera, s.motion, s.rev,
       i.file, i.content_hash, i.inputs, i.created, i.job_id,
       v.file, v.content_hash, v.inputs, v.created, v.job_id, s.audio_hash
FROM scenes s
LEFT JOIN assets i ON i.scene_id = s.id AND i.kind = 'image'
LEFT JOIN assets v ON v.scene_id = s.id AND v.kind = 'video'
"""

JOB_COLUMNS = (
    "id, scene_id, kind, params, params_hash, backend, backend_job_id, state, progress, "
    "error, depends_on, attempts, server, created, updated"
)
JOB_UPDATABLE = frozenset(
    {"state", "progress", "error", "attempts", "server", "params", "params_hash", "depends_on"}
)
ACTIVE_VALUES = tuple(sorted(state.value for state in ACTIVE_STATES))
_ACTIVE_SQL = "('" + "', '".join(ACTIVE_VALUES) + "')"
SCENE_JOBS = "kind != 'cut'"
"""Scene jobs only: the rough cut's job (no scene) is read through its own calls."""

UPSERT_ASSET = (
    "INSERT INTO assets (scene_id, kind, file, content_hash, inputs, job_id, created) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (scene_id, kind) DO UPDATE SET file = excluded.file, "
    "content_hash = excluded.content_hash, inputs = excluded.inputs, "
    "job_id = excluded.job_id, created = excluded.created"
)


def now() -> datetime:
    return datetime.now(UTC)


def asset_values(scene_id: int, asset: Asset) -> tuple[Any, ...]:
    return (
        scene_id,
        asset.kind.value,
        asset.file,
        asset.content_hash,
        json.dumps(asset.inputs, sort_keys=True),
        asset.job_id,
        asset.created.isoformat(),
    )


M = TypeVar("M", bound=BaseModel)


def _assemble(cls: type[M], values: dict[str, Any]) -> M:
    """What `model_construct` does for a model given every field, without its per-call
    bookkeeping: a third of the time, which is most of reading 100,000 scenes."""
    model = cls.__new__(cls)
    object.__setattr__(model, "__dict__", values)
    object.__setattr__(model, "__pydantic_fields_set__", set(values))
    object.__setattr__(model, "__pydantic_extra__", None)
    object.__setattr__(model, "__pydantic_private__", None)
    return model


def _same_as_construct() -> bool:
    """Whether `_assemble` still builds exactly what this pydantic's `model_construct` does."""
    values: dict[str, Any] = {
        "id": 1,
        "position": 1,
        "narration": "",
        "audio_file": None,
        "audio_duration": 1.0,
        "image_prompt": "",
        "negative_prompt": "",
        "seed": 0,
        "video_prompt": "",
        "camera": CameraMovement.STATIC,
        "motion": 0.5,
        "rev": 0,
        "image": None,
        "video": None,
        "audio_hash": None,
    }
    try:
        made, built = _assemble(Scene, dict(values)), Scene.model_construct(**values)
        return (
            made == built
            and made.model_fields_set == built.model_fields_set
            and made.model_copy(update={"seed": 2}).seed == 2
            and set(values) == set(Scene.model_fields)
        )
    except Exception:
        return False


_construct: Any = _assemble if _same_as_construct() else None


def _build(cls: type[M], values: dict[str, Any]) -> M:
    if _construct is not None:
        return cast(M, _construct(cls, values))
    return cls.model_construct(**values)


def _asset(kind: AssetKind, row: tuple[Any, ...]) -> Asset | None:
    file, content_hash, inputs, created, job_id = row
    if file is None:
        return None
    return _build(
        Asset,
        {
            "kind": kind,
            "file": file,
            "content_hash": content_hash,
            "inputs": json.loads(inputs),
            "created": datetime.fromisoformat(created),
            "job_id": job_id,
        },
    )


def scene_from_row(row: tuple[Any, ...]) -> Scene:
    # Rows were validated on the way in; constructing without validation keeps
    # a 100,000-scene load fast.
    return _build(
        Scene,
        {
            "id": row[0],
            "position": row[1],
            "narration": row[2],
            "audio_file": row[3],
            "audio_duration": row[4],
            "image_prompt": row[5],
            "negative_prompt": row[6],
            "seed": row[7],
            "video_prompt": row[8],
            "camera": CameraMovement(row[9]),
            "motion": row[10],
            "rev": row[11],
            "image": _asset(AssetKind.IMAGE, row[12:17]),
            "video": _asset(AssetKind.VIDEO, row[17:22]),
            "audio_hash": row[22],
        },
    )


CUT_JOB_COLUMNS = "id, params, backend_job_id, state, progress, error, attempts, created, updated"
CUT_COLUMNS = "file, content_hash, inputs, subtitles, how, notes, job_id, created"
CUT_BACKEND = "export"
"""What a cut job's `backend` column holds: the runner makes it itself."""


def cut_job_from_row(row: tuple[Any, ...]) -> CutJob:
    return CutJob.model_construct(
        id=row[0],
        params=json.loads(row[1]),
        key=row[2],
        state=JobState(row[3]),
        progress=row[4],
        error=row[5],
        attempts=row[6],
        created=datetime.fromisoformat(row[7]),
        updated=datetime.fromisoformat(row[8]),
    )


def cut_from_row(row: tuple[Any, ...]) -> CutRecord:
    notes = json.loads(row[5] or "[]")
    return CutRecord(
        file=row[0],
        content_hash=row[1],
        inputs=json.loads(row[2]),
        subtitles=row[3],
        how=row[4] or "",
        notes=tuple(str(note) for note in notes) if isinstance(notes, list) else (),
        job_id=row[6],
        created=datetime.fromisoformat(row[7]) if row[7] else None,
    )


def job_from_row(row: tuple[Any, ...]) -> Job:
    return Job.model_construct(
        id=row[0],
        scene_id=row[1],
        kind=AssetKind(row[2]),
        params=json.loads(row[3]),
        params_hash=row[4],
        backend=row[5],
        backend_job_id=row[6],
        state=JobState(row[7]),
        progress=row[8],
        error=row[9],
        depends_on=row[10],
        attempts=row[11],
        server=row[12],
        created=datetime.fromisoformat(row[13]),
        updated=datetime.fromisoformat(row[14]),
    )


SQLITE_READONLY = 8
SQLITE_IOERR = 10
SQLITE_CORRUPT = 11
SQLITE_FULL = 13
SQLITE_CANTOPEN = 14
SQLITE_NOTADB = 26
SQLITE_IOERR_SHMSIZE = SQLITE_IOERR | (19 << 8)
"""The shared-memory index could not grow: in practice, no room left on the disk."""
RECOVER_HINT = 'to salvage it: sqlite3 storyboard.db ".recover" | sqlite3 recovered.db'


def _code(error: sqlite3.Error) -> int:
    return int(getattr(error, "sqlite_errorcode", 0) or 0)


def store_error(path: Path, error: sqlite3.Error) -> StoreError:
    """A SQLite error as one line naming the file, of the StoreError kind that says
    what a caller can do about it (damaged, full, read-only)."""
    text = str(error)
    code = _code(error)
    primary = code & 0xFF
    if primary in (SQLITE_CORRUPT, SQLITE_NOTADB) or "malformed" in text:
        if primary == SQLITE_NOTADB or "not a database" in text:
            what = "not a readable Storyboard database"
        else:
            what = "the database is damaged"
        return DatabaseDamaged(f"{path}: {what} ({text}); {RECOVER_HINT}")
    if primary == SQLITE_FULL or code == SQLITE_IOERR_SHMSIZE or "disk is full" in text:
        return DiskFull(f"{path}: the disk is full; nothing was saved ({text})")
    if primary in (SQLITE_READONLY, SQLITE_CANTOPEN) or "readonly" in text:
        return ReadOnlyProject(
            f"{path}: cannot open for writing; is the project folder read-only? ({text})"
        )
    if "locked" in text or "busy" in text:
        return StoreError(f"{path}: the database is locked by another process ({text})")
    return StoreError(f"{path}: {text}")


def describe_sqlite_error(path: Path, error: sqlite3.Error) -> str:
    return str(store_error(path, error))


def _ids_json(ids: Iterable[int]) -> str:
    return json.dumps(list(ids))


class Tx:
    """Synchronous reads and writes inside one open transaction."""

    def __init__(self, db: sqlite3.Connection, path: Path) -> None:
        self.db = db
        self.path = path
        self._rev: int | None = None
        self.stamp = now().isoformat()

    @property
    def rev(self) -> int:
        """The revision every row written by this transaction is stamped with."""
        if self._rev is None:
            row = self.db.execute("UPDATE project SET rev = rev + 1 RETURNING rev").fetchone()
            if row is None:
                raise StoreError(f"{self.path}: the project row is missing")
            self._rev = int(row[0])
        return self._rev

    def touch(self) -> int:
        """Take this transaction's revision even though no scene or job row changed."""
        return self.rev

    @property
    def wrote(self) -> bool:
        return self._rev is not None

    # -- scenes ----------------------------------------------------------------

    def scene(self, scene_id: int) -> Scene:
        row = self.db.execute(SCENE_SELECT + " WHERE s.id = ?", (scene_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no scene with id {scene_id}")
        return scene_from_row(row)

    def scenes(self, ids: Collection[int] | None = None) -> list[Scene]:
        """By position; all of them, or the ones in `ids` (unknown ids are ignored)."""
        if ids is None:
            rows = self.db.execute(SCENE_SELECT + " ORDER BY s.position").fetchall()
        else:
            rows = self.db.execute(
                SCENE_SELECT + " WHERE s.id IN (SELECT value FROM json_each(?)) "
                "ORDER BY s.position",
                (_ids_json(ids),),
            ).fetchall()
        return [scene_from_row(row) for row in rows]

    def iter_scenes(self) -> Iterator[Scene]:
        """Every scene by position, a row at a time: memory stays flat at any size."""
        for row in self.db.execute(SCENE_SELECT + " ORDER BY s.position"):
            yield scene_from_row(row)

    def update_scene(self, scene_id: int, changes: Mapping[str, Any]) -> Scene:
        """Apply field edits; values equal to the stored ones write nothing."""
        normalized = {field: normalize(field, value) for field, value in changes.items()}
        scene = self.scene(scene_id)
        diff = changed_fields(scene, normalized)
        if not diff:
            return scene
        rev = self.rev
        columns = ", ".join(f"{field} = ?" for field in diff)
        values = [v.value if isinstance(v, CameraMovement) else v for v in diff.values()]
        self.db.execute(
            f"UPDATE scenes SET {columns}, rev = ? WHERE id = ?", (*values, rev, scene_id)
        )
        return scene.model_copy(update={**diff, "rev": rev})

    def put_asset(self, scene_id: int, asset: Asset) -> str | None:
        """Point the scene at a new file; returns the file it replaced, if another."""
        row = self.db.execute(
            "SELECT file FROM assets WHERE scene_id = ? AND kind = ?",
            (scene_id, asset.kind.value),
        ).fetchone()
        self.db.execute(UPSERT_ASSET, asset_values(scene_id, asset))
        self.db.execute("UPDATE scenes SET rev = ? WHERE id = ?", (self.rev, scene_id))
        return str(row[0]) if row and row[0] != asset.file else None

    # -- jobs ------------------------------------------------------------------

    def job(self, job_id: int) -> Job | None:
        row = self.db.execute(
            f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = ? AND {SCENE_JOBS}", (job_id,)
        ).fetchone()
        return job_from_row(row) if row else None

    def active_jobs(self, scene_ids: Collection[int] | None = None) -> list[Job]:
        """Jobs not yet final, oldest first; of every scene, or of `scene_ids`."""
        query = f"SELECT {JOB_COLUMNS} FROM jobs WHERE state IN {_ACTIVE_SQL} AND {SCENE_JOBS}"
        params: tuple[Any, ...] = ()
        if scene_ids is not None:
            query += " AND scene_id IN (SELECT value FROM json_each(?))"
            params = (_ids_json(scene_ids),)
        rows = self.db.execute(query + " ORDER BY id", params).fetchall()
        return [job_from_row(row) for row in rows]

    def insert_job(
        self,
        *,
        scene_id: int,
        kind: AssetKind,
        params: Mapping[str, Any],
        params_hash: str,
        backend: str,
        backend_job_id: str,
        depends_on: int | None = None,
    ) -> Job:
        row = self.db.execute(
            "INSERT INTO jobs (scene_id, kind, params, params_hash, backend, backend_job_id, "
            "state, depends_on, created, updated, rev) "
            "VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?) "
            f"RETURNING {JOB_COLUMNS}",
            (
                scene_id,
                kind.value,
                json.dumps(params, sort_keys=True),
                params_hash,
                backend,
                backend_job_id,
                depends_on,
                self.stamp,
                self.stamp,
                self.rev,
            ),
        ).fetchone()
        return job_from_row(row)

    def set_job(
        self,
        job_id: int,
        *,
        expect: Collection[JobState] = ACTIVE_STATES,
        **fields: Any,
    ) -> Job | None:
        """Change a job that is still in one of `expect`; None if it has moved on."""
        unknown = set(fields) - JOB_UPDATABLE
        if unknown:
            raise ValueError(f"cannot update job fields {sorted(unknown)}")
        values = dict(fields)
        if "state" in values:
            state = JobState(values["state"])
            values["state"] = state.value
            if state is JobState.RUNNING:
                values["started"] = self.stamp
            elif state.is_final:
                values["finished"] = self.stamp
        if "params" in values:
            values["params"] = json.dumps(values["params"], sort_keys=True)
        values["updated"] = self.stamp
        values["rev"] = self.rev
        columns = ", ".join(f"{name} = ?" for name in values)
        allowed = "('" + "', '".join(sorted(JobState(s).value for s in expect)) + "')"
        row = self.db.execute(
            f"UPDATE jobs SET {columns} WHERE id = ? AND state IN {allowed} AND {SCENE_JOBS} "
            f"RETURNING {JOB_COLUMNS}",
            (*values.values(), job_id),
        ).fetchone()
        return job_from_row(row) if row else None

    # -- the rough cut ---------------------------------------------------------

    def insert_cut_job(self, params: Mapping[str, Any], key: str) -> CutJob:
        row = self.db.execute(
            "INSERT INTO jobs (scene_id, kind, params, params_hash, backend, backend_job_id, "
            "state, created, updated, rev) VALUES (NULL, 'cut', ?, '', ?, ?, 'queued', ?, ?, ?) "
            f"RETURNING {CUT_JOB_COLUMNS}",
            (
                json.dumps(params, sort_keys=True),
                CUT_BACKEND,
                key,
                self.stamp,
                self.stamp,
                self.rev,
            ),
        ).fetchone()
        return cut_job_from_row(row)

    def cut_job(self, job_id: int) -> CutJob | None:
        row = self.db.execute(
            f"SELECT {CUT_JOB_COLUMNS} FROM jobs WHERE id = ? AND kind = 'cut'", (job_id,)
        ).fetchone()
        return cut_job_from_row(row) if row else None

    def active_cut_jobs(self) -> list[CutJob]:
        rows = self.db.execute(
            f"SELECT {CUT_JOB_COLUMNS} FROM jobs WHERE state IN {_ACTIVE_SQL} AND kind = 'cut' "
            "ORDER BY id"
        ).fetchall()
        return [cut_job_from_row(row) for row in rows]

    def last_cut_job(self) -> CutJob | None:
        row = self.db.execute(
            f"SELECT {CUT_JOB_COLUMNS} FROM jobs WHERE kind = 'cut' ORDER BY id DESC LIMIT 1"
        ).fetchone()
        return cut_job_from_row(row) if row else None

    def set_cut_job(
        self,
        job_id: int,
        *,
        expect: Collection[JobState] = ACTIVE_STATES,
        **fields: Any,
    ) -> CutJob | None:
        """Move a cut job that is still in one of `expect`; None if it has moved on."""
        unknown = set(fields) - {"state", "progress", "error", "attempts"}
        if unknown:
            raise ValueError(f"cannot update cut job fields {sorted(unknown)}")
        values = dict(fields)
        if "state" in values:
            state = JobState(values["state"])
            values["state"] = state.value
            if state is JobState.RUNNING:
                values["started"] = self.stamp
            elif state.is_final:
                values["finished"] = self.stamp
        values["updated"] = self.stamp
        values["rev"] = self.rev
        columns = ", ".join(f"{name} = ?" for name in values)
        allowed = "('" + "', '".join(sorted(JobState(s).value for s in expect)) + "')"
        row = self.db.execute(
            f"UPDATE jobs SET {columns} WHERE id = ? AND state IN {allowed} AND kind = 'cut' "
            f"RETURNING {CUT_JOB_COLUMNS}",
            (*values.values(), job_id),
        ).fetchone()
        return cut_job_from_row(row) if row else None

    def scene_jobs_before(self, job_id: int) -> int:
        """Scene jobs still active that were queued before `job_id` (a cut waits for them)."""
        row = self.db.execute(
            f"SELECT count(*) FROM jobs WHERE state IN {_ACTIVE_SQL} AND {SCENE_JOBS} AND id < ?",
            (job_id,),
        ).fetchone()
        return int(row[0]) if row else 0

    def cut(self) -> CutRecord | None:
        row = self.db.execute(f"SELECT {CUT_COLUMNS} FROM cut WHERE id = 1").fetchone()
        return cut_from_row(row) if row else None

    def put_cut(self, record: CutRecord) -> CutRecord | None:
        """Make `record` the current film; returns the one it replaced."""
        old = self.cut()
        self.db.execute(
            f"INSERT INTO cut (id, {CUT_COLUMNS}) VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET file = excluded.file, "
            "content_hash = excluded.content_hash, inputs = excluded.inputs, "
            "subtitles = excluded.subtitles, how = excluded.how, notes = excluded.notes, "
            "job_id = excluded.job_id, created = excluded.created",
            (
                record.file,
                record.content_hash,
                json.dumps(dict(record.inputs), sort_keys=True),
                record.subtitles,
                record.how,
                json.dumps(list(record.notes)),
                record.job_id,
                (record.created or now()).isoformat(),
            ),
        )
        self.touch()  # a new film is a change every viewer reads
        return old

    # -- narration audio ------------------------------------------------------

    def audio_stamps(self) -> list[tuple[int, int, str, str | None, int | None, int | None]]:
        """(scene id, position, file, hash, size, mtime_ns) of every scene with narration audio."""
        rows = self.db.execute(
            "SELECT id, position, audio_file, audio_hash, audio_size, audio_mtime FROM scenes "
            "WHERE audio_file IS NOT NULL ORDER BY position"
        ).fetchall()
        return [tuple(row) for row in rows]

    def set_audio(
        self,
        scene_id: int,
        *,
        file: str | None,
        content_hash: str | None,
        size: int | None,
        mtime: int | None,
        duration: float | None = None,
    ) -> Scene:
        """Point a scene at its narration audio (and, with `duration`, take its length)."""
        scene = self.scene(scene_id)
        rev = self.rev
        self.db.execute(
            "UPDATE scenes SET audio_file = ?, audio_hash = ?, audio_size = ?, audio_mtime = ?, "
            "rev = ? WHERE id = ?",
            (file, content_hash, size, mtime, rev, scene_id),
        )
        if duration is not None and duration != scene.audio_duration:
            self.db.execute(
                "UPDATE scenes SET audio_duration = ? WHERE id = ?", (duration, scene_id)
            )
        return self.scene(scene_id)

    def end_job(self, job_id: int, state: JobState, error: str | None = None) -> list[Job]:
        """Move an active job to a final state, with the videos waiting on it.

        A video waiting for an image that failed fails too ("its image failed:
        …"); one waiting for an image that was cancelled is cancelled. Returns
        every job that ended, the named one first; empty if it had already ended.
        """
        fields: dict[str, Any] = {"state": state}
        if error is not None:
            fields["error"] = error
        ended = self.set_job(job_id, **fields)
        if ended is None:
            return []
        result = [ended]
        if ended.kind is AssetKind.IMAGE and state is not JobState.SUPERSEDED:
            rows = self.db.execute(
                f"SELECT id FROM jobs WHERE depends_on = ? AND state IN {_ACTIVE_SQL}",
                (job_id,),
            ).fetchall()
            follow = JobState.FAILED if state is JobState.FAILED else JobState.CANCELLED
            reason = f"its image failed: {error}" if state is JobState.FAILED else None
            for (video_id,) in rows:
                result.extend(self.end_job(int(video_id), follow, reason))
        return result

    def jobs_changed_since(self, rev: int) -> list[Job]:
        rows = self.db.execute(
            f"SELECT {JOB_COLUMNS} FROM jobs WHERE rev > ? AND {SCENE_JOBS} ORDER BY id", (rev,)
        ).fetchall()
        return [job_from_row(row) for row in rows]

    def scenes_changed_since(self, rev: int) -> list[Scene]:
        rows = self.db.execute(
            SCENE_SELECT + " WHERE s.rev > ? ORDER BY s.position", (rev,)
        ).fetchall()
        return [scene_from_row(row) for row in rows]

    def current_rev(self) -> int:
        row = self.db.execute("SELECT rev FROM project").fetchone()
        return int(row[0]) if row else 0
