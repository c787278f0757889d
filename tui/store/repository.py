"""The project database: scenes, their current assets, and the job journal.

One aiosqlite connection per process, WAL so a viewer never blocks a writer,
and every write is a single `BEGIN IMMEDIATE` transaction (see `Tx`). Edits touch only
the columns that changed, so the TUI and a `storyboard set` in another
process never overwrite each other's fields.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from tui.domain.edits import EDITABLE_FIELDS, normalize
from tui.domain.jobs import Job, JobState
from tui.domain.models import Asset, AssetKind, ProjectInfo, Scene
from tui.store.errors import NotFoundError, StoreError
from tui.store.schema import LATEST_VERSION, MIGRATIONS
from tui.store.transaction import (
    JOB_COLUMNS,
    SCENE_SELECT,
    Tx,
    describe_sqlite_error,
    job_from_row,
    now,
    scene_from_row,
)

BUSY_TIMEOUT_MS = 10_000

T = TypeVar("T")


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
            raise StoreError(describe_sqlite_error(path, error)) from None
        store = cls(path, connection)
        try:
            await store._configure()
            await store._migrate()
        except sqlite3.Error as error:
            await connection.close()
            raise StoreError(describe_sqlite_error(path, error)) from None
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

    async def _on_db_thread(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work` on aiosqlite's own thread with its connection, in one hop.

        The one place that uses aiosqlite's private `_execute` and `_conn`:
        aiosqlite has no public way to run a whole transaction of plain calls
        in its thread, and a hop per statement made queueing a 10,000-scene
        batch take seconds.
        """
        db = self._db

        def run() -> T:
            return work(db._conn)

        return await db._execute(run)

    async def atomically(self, work: Callable[[Tx], T]) -> T:
        """Run `work` inside one `BEGIN IMMEDIATE` transaction; any error rolls it back."""

        def run(db: sqlite3.Connection) -> T:
            db.execute("BEGIN IMMEDIATE")
            try:
                result = work(Tx(db, self.path))
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            return result

        async with self._write_lock:
            try:
                return await self._on_db_thread(run)
            except sqlite3.Error as error:
                raise StoreError(describe_sqlite_error(self.path, error)) from None

    async def read(self, work: Callable[[Tx], T]) -> T:
        """Run `work` against one consistent snapshot (a read transaction)."""

        def run(db: sqlite3.Connection) -> T:
            db.execute("BEGIN")
            try:
                return work(Tx(db, self.path))
            finally:
                db.execute("ROLLBACK")

        try:
            return await self._on_db_thread(run)
        except sqlite3.Error as error:
            raise StoreError(describe_sqlite_error(self.path, error)) from None

    # -- project -----------------------------------------------------------

    async def init_project(self, info: ProjectInfo) -> None:
        def work(tx: Tx) -> None:
            tx.db.execute(
                "INSERT INTO project (id, name, width, height, fps, rev, created) "
                "VALUES (1, ?, ?, ?, ?, 0, ?)",
                (info.name, info.width, info.height, info.fps, now().isoformat()),
            )

        await self.atomically(work)

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
        rows = [
            (fields, {name: normalize(name, fields[name]) for name in EDITABLE_FIELDS})
            for fields in scenes
        ]

        def work(tx: Tx) -> list[int]:
            rev = tx.rev
            row = tx.db.execute("SELECT coalesce(max(position), 0) FROM scenes").fetchone()
            position = int(row[0]) if row else 0
            ids: list[int] = []
            for fields, values in rows:
                position += 1
                cursor = tx.db.execute(
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

        return await self.atomically(work)

    async def scenes(self) -> list[Scene]:
        async with self._db.execute(SCENE_SELECT + " ORDER BY s.position") as cursor:
            rows = await cursor.fetchall()
        return [scene_from_row(row) for row in rows]

    async def scenes_changed_since(self, rev: int) -> list[Scene]:
        """Scenes written after `rev`, so a viewer can pick up another process's edits."""
        query = SCENE_SELECT + " WHERE s.rev > ? ORDER BY s.position"
        async with self._db.execute(query, (rev,)) as cursor:
            rows = await cursor.fetchall()
        return [scene_from_row(row) for row in rows]

    async def scene(self, scene_id: int) -> Scene:
        async with self._db.execute(SCENE_SELECT + " WHERE s.id = ?", (scene_id,)) as cursor:
            row = await cursor.fetchone()
        if row is None:
            raise NotFoundError(f"no scene with id {scene_id}")
        return scene_from_row(row)

    async def scene_count(self) -> int:
        async with self._db.execute("SELECT count(*) FROM scenes") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def scene_at(self, position: int) -> Scene:
        """The scene at a 1-based position, as the CLI numbers them."""
        query = SCENE_SELECT + " WHERE s.position = ?"
        async with self._db.execute(query, (position,)) as cursor:
            row = await cursor.fetchone()
        if row is None:
            count = await self.scene_count()
            raise NotFoundError(f"scene {position} is out of range (the project has {count})")
        return scene_from_row(row)

    async def update_scene(self, scene_id: int, changes: Mapping[str, Any]) -> Scene:
        """Apply field edits atomically; values equal to the stored ones write nothing."""
        normalized = {field: normalize(field, value) for field, value in changes.items()}
        return await self.atomically(lambda tx: tx.update_scene(scene_id, normalized))

    # -- assets ------------------------------------------------------------

    async def set_asset(self, scene_id: int, asset: Asset) -> str | None:
        """Point the scene at a new file; returns the replaced file, which the caller deletes."""
        return await self.atomically(lambda tx: tx.put_asset(scene_id, asset))

    async def finish_job(
        self,
        job_id: int,
        scene_id: int,
        asset: Asset,
        *,
        seed: int | None = None,
        seed_was: int | None = None,
    ) -> tuple[str | None, Scene] | None:
        """Store a job's result and mark it succeeded, in one transaction.

        Either both happen or neither, so a crash can never leave a succeeded
        job without its asset or an asset whose job still looks in flight.
        None if the job is no longer active (another process cancelled or
        superseded it): nothing is stored and the caller deletes its file.
        With `seed`, a new take's seed becomes the scene's seed now that it
        has made something, unless the scene's seed was changed since the take
        was queued (it is no longer `seed_was`). Returns the replaced file (the caller deletes it)
        and the scene as it is now, read in the same hop.
        """

        def work(tx: Tx) -> tuple[str | None, Scene] | None:
            done = tx.set_job(job_id, state=JobState.SUCCEEDED, progress=1.0, error=None)
            if done is None:
                return None
            old = tx.put_asset(scene_id, asset)
            if seed is not None and tx.scene(scene_id).seed == seed_was:
                tx.update_scene(scene_id, {"seed": seed})
            return old, tx.scene(scene_id)

        return await self.atomically(work)

    async def asset_files(self) -> set[str]:
        """Every file a scene points at, relative to the project folder."""
        async with self._db.execute("SELECT file FROM assets") as cursor:
            rows = await cursor.fetchall()
        return {row[0] for row in rows}

    async def job_keys(self) -> set[str]:
        """The first 8 hex digits of every job key ever issued: the names of our own files."""
        async with self._db.execute("SELECT backend_job_id FROM jobs") as cursor:
            rows = await cursor.fetchall()
        return {str(row[0]).replace("-", "")[:8].lower() for row in rows}

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
        retired = list(supersede)

        def work(tx: Tx) -> Job:
            for old_id in retired:
                tx.end_job(old_id, JobState.SUPERSEDED)
            return tx.insert_job(
                scene_id=scene_id,
                kind=kind,
                params=params,
                params_hash=params_hash,
                backend=backend,
                backend_job_id=backend_job_id,
                depends_on=depends_on,
            )

        return await self.atomically(work)

    async def job(self, job_id: int) -> Job:
        query = f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?"
        async with self._db.execute(query, (job_id,)) as cursor:
            row = await cursor.fetchone()
        if row is None:
            raise NotFoundError(f"no job with id {job_id}")
        return job_from_row(row)

    async def update_job(self, job_id: int, **fields: Any) -> Job | None:
        """Change an active job; None if it is no longer active (another process ended it)."""
        return await self.atomically(lambda tx: tx.set_job(job_id, **fields))

    async def end_job(self, job_id: int, state: JobState, error: str | None = None) -> list[Job]:
        """Finish an active job other than by success, with the videos waiting on it."""
        return await self.atomically(lambda tx: tx.end_job(job_id, state, error))

    async def active_jobs(self) -> list[Job]:
        """Every job not yet final, oldest first: the work a restart must reconcile."""
        return await self.read(lambda tx: tx.active_jobs())

    async def jobs_changed_since(self, rev: int) -> tuple[list[Job], int]:
        """Jobs written after `rev`, and the revision they were read at."""
        return await self.read(lambda tx: (tx.jobs_changed_since(rev), tx.current_rev()))

    async def recent_failures(self, limit: int = 5) -> list[tuple[Job, int, str]]:
        """The last failed jobs: each with its scene's position and when it failed."""
        query = (
            f"SELECT {', '.join('j.' + c.strip() for c in JOB_COLUMNS.split(','))}, "
            "s.position, j.finished FROM jobs j JOIN scenes s ON s.id = j.scene_id "
            "WHERE j.state = 'failed' ORDER BY j.id DESC LIMIT ?"
        )
        async with self._db.execute(query, (limit,)) as cursor:
            rows = await cursor.fetchall()
        return [(job_from_row(row[:-2]), int(row[-2]), str(row[-1] or "")) for row in rows]

    async def jobs(self, *, limit: int = 1000) -> list[Job]:
        query = f"SELECT {JOB_COLUMNS} FROM jobs ORDER BY id DESC LIMIT ?"
        async with self._db.execute(query, (limit,)) as cursor:
            rows = await cursor.fetchall()
        return [job_from_row(row) for row in rows]
