"""The project database: scenes, their current assets, and the job journal.

One aiosqlite connection per process, WAL so a viewer never blocks a writer,
and every write is a single `BEGIN IMMEDIATE` transaction. Edits touch only
the columns that changed, so the TUI and a `storyboard set` in another
process never overwrite each other's fields.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from tui.domain.camera import CameraMovement
from tui.domain.edits import EDITABLE_FIELDS, changed_fields, normalize
from tui.domain.jobs import ACTIVE_STATES, Job, JobState
from tui.domain.models import Asset, AssetKind, ProjectInfo, Scene
from tui.store.errors import NotFoundError, StoreError
from tui.store.schema import LATEST_VERSION, MIGRATIONS

BUSY_TIMEOUT_MS = 10_000

_SCENE_SELECT = """
SELECT s.id, s.position, s.narration, s.audio_file, s.audio_duration, s.image_prompt,
       s.negative_prompt, s.seed, s.video_prompt, s.camera, s.motion, s.rev,
       i.file, i.content_hash, i.inputs, i.created, i.job_id,
       v.file, v.content_hash, v.inputs, v.created, v.job_id
FROM scenes s
LEFT JOIN assets i ON i.scene_id = s.id AND i.kind = 'image'
LEFT JOIN assets v ON v.scene_id = s.id AND v.kind = 'video'
"""

_JOB_COLUMNS = (
    "id, scene_id, kind, params, params_hash, backend, backend_job_id, state, progress, "
    "error, depends_on, attempts, server, created, updated"
)
_JOB_UPDATABLE = frozenset(
    {"state", "progress", "error", "attempts", "server", "params", "params_hash", "depends_on"}
)


_UPSERT_ASSET = (
    "INSERT INTO assets (scene_id, kind, file, content_hash, inputs, job_id, created) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (scene_id, kind) DO UPDATE SET file = excluded.file, "
    "content_hash = excluded.content_hash, inputs = excluded.inputs, "
    "job_id = excluded.job_id, created = excluded.created"
)

T = TypeVar("T")


def _asset_values(scene_id: int, asset: Asset) -> tuple[Any, ...]:
    return (
        scene_id,
        asset.kind.value,
        asset.file,
        asset.content_hash,
        json.dumps(asset.inputs, sort_keys=True),
        asset.job_id,
        asset.created.isoformat(),
    )


def now() -> datetime:
    return datetime.now(UTC)


def _asset(kind: AssetKind, row: tuple[Any, ...]) -> Asset | None:
    file, content_hash, inputs, created, job_id = row
    if file is None:
        return None
    return Asset.model_construct(
        kind=kind,
        file=file,
        content_hash=content_hash,
        inputs=json.loads(inputs),
        created=datetime.fromisoformat(created),
        job_id=job_id,
    )


def _scene(row: tuple[Any, ...]) -> Scene:
    # Rows were validated on the way in; constructing without validation keeps
    # a 10,000-scene load fast.
    return Scene.model_construct(
        id=row[0],
        position=row[1],
        narration=row[2],
        audio_file=row[3],
        audio_duration=row[4],
        image_prompt=row[5],
        negative_prompt=row[6],
        seed=row[7],
        video_prompt=row[8],
        camera=CameraMovement(row[9]),
        motion=row[10],
        rev=row[11],
        image=_asset(AssetKind.IMAGE, row[12:17]),
        video=_asset(AssetKind.VIDEO, row[17:22]),
    )


def _job(row: tuple[Any, ...]) -> Job:
    return Job(
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


def _describe_sqlite_error(path: Path, error: sqlite3.Error) -> str:
    text = str(error)
    if "not a database" in text or "malformed" in text:
        return f"{path}: not a readable Storyboard database ({text})"
    if "readonly" in text or "unable to open" in text or "read-only" in text:
        return f"{path}: cannot open for writing; is the project folder read-only? ({text})"
    if "locked" in text or "busy" in text:
        return f"{path}: the database is locked by another process ({text})"
    return f"{path}: {text}"


class ProjectStore:
    """Async access to one project's `storyboard.db`."""

    def __init__(self, path: Path, connection: aiosqlite.Connection) -> None:
        self.path = path
        self._db = connection
        self._write_lock = asyncio.Lock()

    # -- opening -----------------------------------------------------------

    @classmethod
    async def open(cls, path: Path, *, create: bool = False) -> ProjectStore:
        """Open (or with `create`, make) the database and bring its schema up to date."""
        path = Path(path)
        if not create and not path.is_file():
            raise StoreError(f"{path}: no such project database")
        try:
            connection = await aiosqlite.connect(path, isolation_level=None)
        except sqlite3.Error as error:
            raise StoreError(_describe_sqlite_error(path, error)) from None
        store = cls(path, connection)
        try:
            await store._configure()
            await store._migrate()
        except sqlite3.Error as error:
            await connection.close()
            raise StoreError(_describe_sqlite_error(path, error)) from None
        except StoreError:
            await connection.close()
            raise
        return store

    async def _configure(self) -> None:
        # Reading the schema first turns a corrupt file into an error before
        # any pragma writes to it. Each cursor is drained and closed so no
        # statement keeps a read transaction open.
        for statement in (
            f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}",
            "SELECT count(*) FROM sqlite_master",
            "PRAGMA journal_mode = WAL",
            "PRAGMA synchronous = NORMAL",
            "PRAGMA foreign_keys = ON",
        ):
            async with self._db.execute(statement) as cursor:
                await cursor.fetchall()

    async def _migrate(self) -> None:
        async with self._db.execute("PRAGMA user_version") as cursor:
            row = await cursor.fetchone()
        version = int(row[0]) if row else 0
        if version > LATEST_VERSION:
            raise StoreError(
                f"{self.path}: made by a newer Storyboard (schema {version}; "
                f"this version reads up to {LATEST_VERSION})"
            )
        for target in range(version + 1, LATEST_VERSION + 1):
            await self._db.executescript(
                f"BEGIN IMMEDIATE;\n{MIGRATIONS[target]}\nPRAGMA user_version = {target};\nCOMMIT;"
            )

    async def close(self) -> None:
        await self._db.close()

    async def __aenter__(self) -> ProjectStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- transactions ------------------------------------------------------

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction; the lock keeps coroutines from interleaving on one connection."""
        async with self._write_lock:
            try:
                await self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as error:
                raise StoreError(_describe_sqlite_error(self.path, error)) from None
            try:
                yield self._db
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise
            else:
                try:
                    await self._db.execute("COMMIT")
                except sqlite3.Error as error:
                    await self._db.execute("ROLLBACK")
                    raise StoreError(_describe_sqlite_error(self.path, error)) from None

    async def _write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run a whole write transaction in aiosqlite's worker thread, in one hop.

        Hot paths (the job journal) would otherwise pay one thread round trip
        per statement; this keeps a job's bookkeeping to a few hops in all.
        """

        def run() -> T:
            db = self._db._conn  # aiosqlite's own connection, in its own thread
            db.execute("BEGIN IMMEDIATE")
            try:
                result = work(db)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            return result

        async with self._write_lock:
            try:
                return await self._db._execute(run)
            except sqlite3.Error as error:
                raise StoreError(_describe_sqlite_error(self.path, error)) from None

    async def _bump_rev(self, db: aiosqlite.Connection) -> int:
        async with db.execute("UPDATE project SET rev = rev + 1 RETURNING rev") as cursor:
            row = await cursor.fetchone()
        if row is None:
            raise StoreError(f"{self.path}: the project row is missing")
        return int(row[0])

    # -- project -----------------------------------------------------------

    async def init_project(self, info: ProjectInfo) -> None:
        async with self.transaction() as db:
            await db.execute(
                "INSERT INTO project (id, name, width, height, fps, rev, created) "
                "VALUES (1, ?, ?, ?, ?, 0, ?)",
                (info.name, info.width, info.height, info.fps, now().isoformat()),
            )

    async def project(self) -> ProjectInfo:
        async with self._db.execute("SELECT name, width, height, fps, rev FROM project") as cur:
            row = await cur.fetchone()
        if row is None:
            raise StoreError(f"{self.path}: the project row is missing")
        return ProjectInfo(name=row[0], width=row[1], height=row[2], fps=row[3], rev=row[4])

    async def rev(self) -> int:
        async with self._db.execute("SELECT rev FROM project") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    # -- scenes ------------------------------------------------------------

    async def add_scenes(self, scenes: Iterable[Mapping[str, Any]]) -> list[int]:
        """Append scenes in one transaction; used by import."""
        ids: list[int] = []
        async with self.transaction() as db:
            rev = await self._bump_rev(db)
            async with db.execute("SELECT coalesce(max(position), 0) FROM scenes") as cursor:
                row = await cursor.fetchone()
            position = int(row[0]) if row else 0
            for fields in scenes:
                position += 1
                values = {name: normalize(name, fields[name]) for name in EDITABLE_FIELDS}
                cursor = await db.execute(
                    "INSERT INTO scenes (position, narration, audio_file, audio_duration, "
                    "image_prompt, negative_prompt, seed, video_prompt, camera, motion, rev) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        position,
                        values["narration"],
                        fields.get("audio_file"),
                        values["audio_duration"],
                        values["image_prompt"],
                        values["negative_prompt"],
                        values["seed"],
                        values["video_prompt"],
                        values["camera"].value,
                        values["motion"],
                        rev,
                    ),
                )
                assert cursor.lastrowid is not None
                ids.append(cursor.lastrowid)
        return ids

    async def scenes(self) -> list[Scene]:
        async with self._db.execute(_SCENE_SELECT + " ORDER BY s.position") as cursor:
            rows = await cursor.fetchall()
        return [_scene(row) for row in rows]

    async def scenes_changed_since(self, rev: int) -> list[Scene]:
        """Scenes written after `rev`, so a viewer can pick up another process's edits."""
        query = _SCENE_SELECT + " WHERE s.rev > ? ORDER BY s.position"
        async with self._db.execute(query, (rev,)) as cursor:
            rows = await cursor.fetchall()
        return [_scene(row) for row in rows]

    async def scene(self, scene_id: int) -> Scene:
        async with self._db.execute(_SCENE_SELECT + " WHERE s.id = ?", (scene_id,)) as cursor:
            row = await cursor.fetchone()
        if row is None:
            raise NotFoundError(f"no scene with id {scene_id}")
        return _scene(row)

    async def scene_count(self) -> int:
        async with self._db.execute("SELECT count(*) FROM scenes") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def scene_at(self, position: int) -> Scene:
        """The scene at a 1-based position, as the CLI numbers them."""
        query = _SCENE_SELECT + " WHERE s.position = ?"
        async with self._db.execute(query, (position,)) as cursor:
            row = await cursor.fetchone()
        if row is None:
            count = await self.scene_count()
            raise NotFoundError(f"scene {position} is out of range (the project has {count})")
        return _scene(row)

    async def update_scene(self, scene_id: int, changes: Mapping[str, Any]) -> Scene:
        """Apply field edits atomically; values equal to the stored ones write nothing."""
        normalized = {field: normalize(field, value) for field, value in changes.items()}
        async with self.transaction() as db:
            async with db.execute(_SCENE_SELECT + " WHERE s.id = ?", (scene_id,)) as cursor:
                row = await cursor.fetchone()
            if row is None:
                raise NotFoundError(f"no scene with id {scene_id}")
            scene = _scene(row)
            diff = changed_fields(scene, normalized)
            if not diff:
                return scene
            rev = await self._bump_rev(db)
            columns = ", ".join(f"{field} = ?" for field in diff)
            values = [v.value if isinstance(v, CameraMovement) else v for v in diff.values()]
            await db.execute(
                f"UPDATE scenes SET {columns}, rev = ? WHERE id = ?",
                (*values, rev, scene_id),
            )
        return scene.model_copy(update={**diff, "rev": rev})

    # -- assets ------------------------------------------------------------

    async def _put_asset(self, db: aiosqlite.Connection, scene_id: int, asset: Asset) -> str | None:
        async with db.execute(
            "SELECT file FROM assets WHERE scene_id = ? AND kind = ?", (scene_id, asset.kind.value)
        ) as cursor:
            row = await cursor.fetchone()
        await db.execute(_UPSERT_ASSET, _asset_values(scene_id, asset))
        rev = await self._bump_rev(db)
        await db.execute("UPDATE scenes SET rev = ? WHERE id = ?", (rev, scene_id))
        return row[0] if row and row[0] != asset.file else None

    async def set_asset(self, scene_id: int, asset: Asset) -> str | None:
        """Point the scene at a new file; returns the replaced file, which the caller deletes."""
        async with self.transaction() as db:
            return await self._put_asset(db, scene_id, asset)

    async def finish_job(
        self, job_id: int, scene_id: int, asset: Asset
    ) -> tuple[str | None, Scene]:
        """Store a job's result and mark it succeeded, in one transaction.

        Either both happen or neither, so a crash can never leave a succeeded
        job without its asset or an asset whose job still looks in flight.
        Returns the replaced file (the caller deletes it) and the scene as it
        is now, read in the same hop.
        """
        stamp = now().isoformat()

        def work(db: sqlite3.Connection) -> tuple[str | None, Scene]:
            row = db.execute(
                "SELECT file FROM assets WHERE scene_id = ? AND kind = ?",
                (scene_id, asset.kind.value),
            ).fetchone()
            db.execute(_UPSERT_ASSET, _asset_values(scene_id, asset))
            rev = db.execute("UPDATE project SET rev = rev + 1 RETURNING rev").fetchone()[0]
            db.execute("UPDATE scenes SET rev = ? WHERE id = ?", (rev, scene_id))
            db.execute(
                "UPDATE jobs SET state = 'succeeded', progress = 1.0, error = NULL, "
                "updated = ?, finished = ? WHERE id = ?",
                (stamp, stamp, job_id),
            )
            scene = _scene(db.execute(_SCENE_SELECT + " WHERE s.id = ?", (scene_id,)).fetchone())
            return (row[0] if row and row[0] != asset.file else None), scene

        return await self._write(work)

    async def asset_files(self) -> set[str]:
        """Every file a scene points at, relative to the project folder."""
        async with self._db.execute("SELECT file FROM assets") as cursor:
            rows = await cursor.fetchall()
        return {row[0] for row in rows}

    # -- jobs --------------------------------------------------------------

    async def insert_job(
        self,
        *,
        scene_id: int,
        kind: AssetKind,
        params: Mapping[str, Any],
        params_hash: str,
        backend: str,
        backend_job_id: str,
        depends_on: int | None = None,
        supersede: Iterable[int] = (),
    ) -> Job:
        """Journal a new job (and retire the ones it supersedes) before any backend hears of it."""
        stamp = now().isoformat()
        retired = list(supersede)

        def work(db: sqlite3.Connection) -> tuple[Any, ...]:
            for old_id in retired:
                db.execute(
                    "UPDATE jobs SET state = 'superseded', updated = ?, finished = ? "
                    "WHERE id = ? AND state IN ('queued', 'submitted', 'running')",
                    (stamp, stamp, old_id),
                )
            return db.execute(
                "INSERT INTO jobs (scene_id, kind, params, params_hash, backend, backend_job_id, "
                "state, depends_on, created, updated) VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?) "
                f"RETURNING {_JOB_COLUMNS}",
                (
                    scene_id,
                    kind.value,
                    json.dumps(params, sort_keys=True),
                    params_hash,
                    backend,
                    backend_job_id,
                    depends_on,
                    stamp,
                    stamp,
                ),
            ).fetchone()

        return _job(await self._write(work))

    async def job(self, job_id: int) -> Job:
        query = f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ?"
        async with self._db.execute(query, (job_id,)) as cursor:
            row = await cursor.fetchone()
        if row is None:
            raise NotFoundError(f"no job with id {job_id}")
        return _job(row)

    async def update_job(self, job_id: int, **fields: Any) -> None:
        unknown = set(fields) - _JOB_UPDATABLE
        if unknown:
            raise ValueError(f"cannot update job fields {sorted(unknown)}")
        values = dict(fields)
        if "state" in values:
            state = JobState(values["state"])
            values["state"] = state.value
            if state is JobState.RUNNING:
                values["started"] = now().isoformat()
            elif state.is_final:
                values["finished"] = now().isoformat()
        if "params" in values:
            values["params"] = json.dumps(values["params"], sort_keys=True)
        values["updated"] = now().isoformat()
        columns = ", ".join(f"{name} = ?" for name in values)
        query = f"UPDATE jobs SET {columns} WHERE id = ?"
        await self._write(lambda db: db.execute(query, (*values.values(), job_id)))

    async def active_jobs(self) -> list[Job]:
        """Every job not yet final, oldest first: the work a restart must reconcile."""
        placeholders = ", ".join("?" for _ in ACTIVE_STATES)
        query = f"SELECT {_JOB_COLUMNS} FROM jobs WHERE state IN ({placeholders}) ORDER BY id"
        async with self._db.execute(query, tuple(s.value for s in ACTIVE_STATES)) as cursor:
            rows = await cursor.fetchall()
        return [_job(row) for row in rows]

    async def jobs(self, *, limit: int = 1000) -> list[Job]:
        query = f"SELECT {_JOB_COLUMNS} FROM jobs ORDER BY id DESC LIMIT ?"
        async with self._db.execute(query, (limit,)) as cursor:
            rows = await cursor.fetchall()
        return [_job(row) for row in rows]
