"""The project database: scenes, their current assets, and the job journal.

One aiosqlite connection per process, WAL so a viewer never blocks a writer,
and every write is a single `BEGIN IMMEDIATE` transaction (see `Tx`). Edits touch only
the columns that changed, so the TUI and a `storyboard set` in another
process never overwrite each other's fields.

A project is opened read-only and becomes writable at its first write:
`storyboard status` and a TUI that only looks never change a byte, a
project on a read-only disk can still be viewed, and an older schema is
migrated only by a process that writes (a reader migrates a copy in memory).
Every SQLite error leaves here as a one-line `StoreError` naming the file; a
damaged file is also told to `on_damage` listeners, so a process that only
follows a batch stops on it too.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import quote

import aiosqlite

from tui.domain.camera import CameraMovement
from tui.domain.edits import EDITABLE_FIELDS, normalize
from tui.domain.jobs import Job, JobState
from tui.domain.models import Asset, AssetKind, ProjectInfo, Scene
from tui.errors import DatabaseDamaged, NotFoundError, StoreError
from tui.folder import ProjectFolder
from tui.store.presence import AssetFiles
from tui.store.schema import LATEST_VERSION, MIGRATIONS
from tui.store.transaction import (
    JOB_COLUMNS,
    RECOVER_HINT,
    SCENE_SELECT,
    SQLITE_CANTOPEN,
    Tx,
    job_from_row,
    now,
    scene_from_row,
    store_error,
)

BUSY_TIMEOUT_MS = 10_000

T = TypeVar("T")
DamageListener = Callable[[DatabaseDamaged], None]


def _uri(path: Path, query: str) -> str:
    return f"file:{quote(str(path.absolute()))}?{query}"


def _wal_has_data(path: Path) -> bool:
    try:
        return path.with_name(path.name + "-wal").stat().st_size > 0
    except OSError:
        return False


def _probe(db: sqlite3.Connection) -> tuple[int, bool]:
    """The schema version and whether any table exists; reads the file's header and schema,
    so a file that is not a database fails here, before anything writes to it."""
    db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    tables = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    version = db.execute("PRAGMA user_version").fetchone()[0]
    return int(version), bool(tables)


def _migrate(db: sqlite3.Connection, version: int) -> None:
    """Bring the schema from `version` to the latest, one transaction per step.

    Foreign keys are off while a step runs (a step may rebuild a table, which
    SQLite allows only so) and checked before the step commits.
    """
    if version >= LATEST_VERSION:
        return
    db.execute("PRAGMA foreign_keys = OFF")
    try:
        for target in range(version + 1, LATEST_VERSION + 1):
            db.execute("BEGIN IMMEDIATE")
            try:
                for statement in _statements(MIGRATIONS[target]):
                    db.execute(statement)
                broken = db.execute("PRAGMA foreign_key_check").fetchone()
                if broken is not None:
                    raise sqlite3.IntegrityError(f"migration {target} broke a reference: {broken}")
                db.execute(f"PRAGMA user_version = {target}")
                db.execute("COMMIT")
            except BaseException:
                _rollback(db)
                raise
    finally:
        db.execute("PRAGMA foreign_keys = ON")


def _statements(script: str) -> list[str]:
    """A migration script as single statements (sqlite3 runs one per execute)."""
    statements: list[str] = []
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            if pending.strip():
                statements.append(pending.strip())
            pending = ""
    if pending.strip():
        statements.append(pending.strip())
    return statements


def _rollback(db: sqlite3.Connection) -> None:
    """Roll back what is still open. SQLite may already have rolled back by itself (a full
    disk, an I/O error), and a second rollback would hide the real error behind
    "cannot rollback - no transaction is active"."""
    if db.in_transaction:
        try:
            db.execute("ROLLBACK")
        except sqlite3.Error:
            pass


def _configure_writer(db: sqlite3.Connection) -> None:
    for statement in (
        "PRAGMA journal_mode = WAL",
        "PRAGMA synchronous = NORMAL",
        "PRAGMA foreign_keys = ON",
    ):
        db.execute(statement).fetchall()


def _remove_idle_wal(path: Path) -> None:
    """Let SQLite delete the empty -wal and -shm files a reader had to make.

    Only the last connection to close removes them, and only a writable one,
    so a brief one is opened and closed; with an empty WAL it has nothing to
    copy, so the database file itself is not touched. Best effort.
    """
    try:
        if path.with_name(path.name + "-wal").stat().st_size != 0:
            return
        db = sqlite3.connect(path, timeout=0.05)
    except (OSError, sqlite3.Error):
        return
    try:
        db.execute("SELECT count(*) FROM sqlite_master").fetchall()
    except sqlite3.Error:
        pass
    finally:
        db.close()


async def _on_thread(
    connection: aiosqlite.Connection, work: Callable[[sqlite3.Connection], T]
) -> T:
    """Run `work` on aiosqlite's own thread with its connection, in one hop.

    The one place that uses aiosqlite's private `_execute` and `_conn`:
    aiosqlite has no public way to run a whole transaction of plain calls
    in its thread, and a hop per statement made queueing a 10,000-scene
    batch take seconds.
    """

    def run() -> T:
        return work(connection._conn)

    execute = cast(Callable[[Callable[[], T]], Awaitable[T]], connection._execute)
    return await execute(run)


def _check_version(path: Path, version: int, tables: bool, *, create: bool) -> None:
    if version > LATEST_VERSION:
        raise StoreError(
            f"{path}: made by a newer Storyboard (schema {version}; "
            f"this version reads up to {LATEST_VERSION})"
        )
    if version == 0 and not create:
        # Never give a schema to a file we did not create: an empty or foreign file
        # stays exactly as it was.
        what = "an empty file" if not tables else "not a Storyboard database (no schema version)"
        raise StoreError(f"{path}: {what}, not a Storyboard project database")


async def _migrated_copy(uri: str, version: int) -> aiosqlite.Connection:
    """The database copied into memory and migrated there, for a reader of an older schema."""
    memory = await aiosqlite.connect(":memory:", isolation_level=None)

    def copy(db: sqlite3.Connection) -> None:
        source = sqlite3.connect(uri, uri=True)
        try:
            source.backup(db)
        finally:
            source.close()
        _migrate(db, version)

    try:
        await _on_thread(memory, copy)
    except BaseException:
        await memory.close()
        raise
    return memory


class ProjectStore:
    """Async access to one project's `storyboard.db`."""

    def __init__(
        self, path: Path, connection: aiosqlite.Connection, *, writable: bool = True
    ) -> None:
        self.path = path
        self._db = connection
        self._writable = writable
        self._retired: list[aiosqlite.Connection] = []
        self._write_lock = asyncio.Lock()
        self._damage_listeners: list[DamageListener] = []
        self.damage: DatabaseDamaged | None = None
        """The first damage this process found in the file, if any."""
        self.files = AssetFiles(ProjectFolder(path.parent))
        """Which of the project's asset files are on disk (listed at first use)."""
        self._tidy_on_close = False
        """A reader that made the -wal and -shm files lets SQLite remove them again."""

    # -- opening -----------------------------------------------------------

    @classmethod
    async def open(
        cls, path: Path, *, create: bool = False, writable: bool = False
    ) -> ProjectStore:
        """Open the database read-only (it becomes writable at its first write).

        `create` makes a new database (only then is an empty file given a
        schema); `writable` opens for writing at once and migrates an older schema.
        """
        path = Path(path)
        if not create and not path.is_file():
            raise StoreError(f"{path}: no such project database")
        if create or writable:
            connection = await cls._connect_writer(path, create=create)
            return cls(path, connection, writable=True)
        existed = path.with_name(path.name + "-wal").exists()
        store = cls(path, await cls._connect_reader(path), writable=False)
        store._tidy_on_close = not existed
        return store

    @staticmethod
    async def _connect_writer(path: Path, *, create: bool) -> aiosqlite.Connection:
        try:
            connection = await aiosqlite.connect(path, isolation_level=None)
        except sqlite3.Error as error:
            raise store_error(path, error) from None

        def setup(db: sqlite3.Connection) -> None:
            version, tables = _probe(db)
            _check_version(path, version, tables, create=create)
            _configure_writer(db)
            _migrate(db, version)

        try:
            await _on_thread(connection, setup)
        except BaseException as error:
            await connection.close()
            if isinstance(error, sqlite3.Error):
                raise store_error(path, error) from None
            raise
        return connection

    @staticmethod
    async def _connect_reader(path: Path) -> aiosqlite.Connection:
        """A read-only connection; on a folder where SQLite cannot even make its shared-memory
        file, the file is read as immutable (nobody can write it there either)."""
        queries = ["mode=ro"] + ([] if _wal_has_data(path) else ["immutable=1"])
        for attempt, query in enumerate(queries):
            uri = _uri(path, query)
            connection = await aiosqlite.connect(uri, uri=True, isolation_level=None)
            try:
                version, tables = await _on_thread(connection, _probe)
                _check_version(path, version, tables, create=False)
                if version < LATEST_VERSION:
                    # An older schema: read a migrated copy; the file itself is left alone.
                    copy = await _migrated_copy(uri, version)
                    await connection.close()
                    return copy
                await _on_thread(connection, lambda db: db.execute("PRAGMA foreign_keys = ON"))
                return connection
            except sqlite3.Error as error:
                await connection.close()
                cannot_open = error.sqlite_errorcode & 0xFF == SQLITE_CANTOPEN
                if cannot_open and attempt + 1 < len(queries):
                    continue
                raise store_error(path, error) from None
            except BaseException:
                await connection.close()
                raise
        raise StoreError(f"{path}: cannot be opened")  # pragma: no cover - loop always returns

    async def _become_writable(self) -> None:
        """The first write: reopen the file for writing (migrating it if it is older)."""
        if self._writable:
            return
        connection = await self._connect_writer(self.path, create=False)
        self._retired.append(self._db)
        self._db = connection
        self._writable = True

    async def make_writable(self) -> None:
        """Open for writing now, for a process that is about to write anyway (the runner)."""
        async with self._write_lock:
            try:
                await self._become_writable()
            except StoreError as error:
                raise self._note(error) from None

    @property
    def writable(self) -> bool:
        """Whether this process has opened the file for writing yet."""
        return self._writable

    async def close(self) -> None:
        for connection in (*self._retired, self._db):
            await connection.close()
        self._retired.clear()
        if self._tidy_on_close and not self._writable:
            await asyncio.to_thread(_remove_idle_wal, self.path)

    async def __aenter__(self) -> ProjectStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- damage ------------------------------------------------------------

    def on_damage(self, listener: DamageListener) -> Callable[[], None]:
        """Call `listener` (on the event loop) when any operation finds the file damaged;
        at once if it already has. Returns an unsubscribe."""
        self._damage_listeners.append(listener)
        if self.damage is not None:
            listener(self.damage)
        return lambda: (
            self._damage_listeners.remove(listener) if listener in self._damage_listeners else None
        )

    def _failed(self, error: sqlite3.Error) -> StoreError:
        return self._note(store_error(self.path, error))

    def _note(self, failure: StoreError) -> StoreError:
        if isinstance(failure, DatabaseDamaged) and self.damage is None:
            self.damage = failure
            for listener in list(self._damage_listeners):
                listener(failure)
        return failure

    async def check_integrity(self) -> None:
        """A full `PRAGMA quick_check`: raises DatabaseDamaged if any page is broken.

        It reads every page from the file on a connection of its own (this
        one's cache may still hold a page as it was before it was damaged), so
        it is for moments that call for it (a runner that vanished mid-batch),
        not for every look.
        """

        def check() -> list[str]:
            db = sqlite3.connect(_uri(self.path, "mode=ro"), uri=True, timeout=10)
            try:
                return [str(row[0]) for row in db.execute("PRAGMA quick_check(3)").fetchall()]
            finally:
                db.close()

        try:
            found = await asyncio.to_thread(check)
        except sqlite3.Error as error:
            raise self._failed(error) from None
        if found != ["ok"]:
            text = "; ".join(found)
            raise self._note(
                DatabaseDamaged(f"{self.path}: the database is damaged ({text}); {RECOVER_HINT}")
            )

    # -- transactions ------------------------------------------------------

    async def _on_db_thread(self, work: Callable[[sqlite3.Connection], T]) -> T:
        return await _on_thread(self._db, work)

    async def atomically(self, work: Callable[[Tx], T]) -> T:
        """Run `work` inside one `BEGIN IMMEDIATE` transaction; any error rolls it back."""

        def run(db: sqlite3.Connection) -> T:
            db.execute("BEGIN IMMEDIATE")
            try:
                result = work(Tx(db, self.path))
                db.execute("COMMIT")
            except BaseException:
                _rollback(db)
                raise
            return result

        async with self._write_lock:
            try:
                await self._become_writable()
            except StoreError as error:
                raise self._note(error) from None
            try:
                return await self._on_db_thread(run)
            except sqlite3.Error as error:
                raise self._failed(error) from None

    async def read(self, work: Callable[[Tx], T]) -> T:
        """Run `work` against one consistent snapshot (a read transaction)."""

        def run(db: sqlite3.Connection) -> T:
            db.execute("BEGIN")
            try:
                return work(Tx(db, self.path))
            finally:
                _rollback(db)

        try:
            return await self._on_db_thread(run)
        except sqlite3.Error as error:
            raise self._failed(error) from None

    async def _rows(self, query: str, params: tuple[Any, ...] = ()) -> list[Any]:
        return await self.read(lambda tx: tx.db.execute(query, params).fetchall())

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
        rows = await self._rows("SELECT name, width, height, fps, rev FROM project")
        row = rows[0] if rows else None
        if row is None:
            raise StoreError(f"{self.path}: the project row is missing")
        return ProjectInfo(name=row[0], width=row[1], height=row[2], fps=row[3], rev=row[4])

    async def rev(self) -> int:
        rows = await self._rows("SELECT rev FROM project")
        return int(rows[0][0]) if rows else 0

    # -- scenes ------------------------------------------------------------

    async def add_scenes(
        self, scenes: Iterable[Mapping[str, Any]], *, normalized: bool = False
    ) -> list[int]:
        """Append scenes in one transaction; used by import.

        `normalized`: the values already passed the edit rules (the importer's
        models apply them), so they are not checked twice, and `scenes` is read
        lazily inside the transaction: 100,000 scenes are never all held at once.
        """
        source: Iterable[Mapping[str, Any]] = scenes
        if not normalized:
            source = [
                {**fields, **{name: normalize(name, fields[name]) for name in EDITABLE_FIELDS}}
                for fields in scenes
            ]

        def work(tx: Tx) -> list[int]:
            rev = tx.rev
            row = tx.db.execute("SELECT coalesce(max(position), 0) FROM scenes").fetchone()
            first = int(row[0]) + 1 if row else 1
            values = (
                (
                    position,
                    fields["narration"],
                    fields.get("audio_file"),
                    fields["audio_duration"],
                    fields["image_prompt"],
                    fields["negative_prompt"],
                    fields["seed"],
                    fields["video_prompt"],
                    CameraMovement(fields["camera"]).value,
                    fields["motion"],
                    rev,
                    fields.get("audio_hash"),
                    fields.get("audio_size"),
                    fields.get("audio_mtime"),
                )
                for position, fields in enumerate(source, start=first)
            )
            tx.db.executemany(
                "INSERT INTO scenes (position, narration, audio_file, audio_duration, "
                "image_prompt, negative_prompt, seed, video_prompt, camera, motion, rev, "
                "audio_hash, audio_size, audio_mtime) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                values,
            )
            found = tx.db.execute(
                "SELECT id FROM scenes WHERE position >= ? ORDER BY position", (first,)
            ).fetchall()
            return [int(scene_id) for (scene_id,) in found]

        return await self.atomically(work)

    async def scenes(self) -> list[Scene]:
        return await self.read(lambda tx: tx.scenes())

    async def scenes_changed_since(self, rev: int) -> list[Scene]:
        """Scenes written after `rev`, so a viewer can pick up another process's edits."""
        return await self.read(lambda tx: tx.scenes_changed_since(rev))

    async def scene(self, scene_id: int) -> Scene:
        return await self.read(lambda tx: tx.scene(scene_id))

    async def scene_count(self) -> int:
        rows = await self._rows("SELECT count(*) FROM scenes")
        return int(rows[0][0]) if rows else 0

    async def last_position(self) -> int:
        rows = await self._rows("SELECT coalesce(max(position), 0) FROM scenes")
        return int(rows[0][0]) if rows else 0

    async def scene_at(self, position: int) -> Scene:
        """The scene at a 1-based position, as the CLI numbers them."""
        query = SCENE_SELECT + " WHERE s.position = ?"
        rows = await self._rows(query, (position,))
        if not rows:
            count = await self.scene_count()
            raise NotFoundError(f"scene {position} is out of range (the project has {count})")
        return scene_from_row(rows[0])

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
        return {row[0] for row in await self._rows("SELECT file FROM assets")}

    async def job_keys(self) -> set[str]:
        """The first 8 hex digits of every job key ever issued: the names of our own files."""
        rows = await self._rows("SELECT backend_job_id FROM jobs")
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
        query = f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = ? AND kind != 'cut'"
        rows = await self._rows(query, (job_id,))
        if not rows:
            raise NotFoundError(f"no job with id {job_id}")
        return job_from_row(rows[0])

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
        rows = await self._rows(query, (limit,))
        return [(job_from_row(row[:-2]), int(row[-2]), str(row[-1] or "")) for row in rows]

    async def jobs(self, *, limit: int = 1000) -> list[Job]:
        query = f"SELECT {JOB_COLUMNS} FROM jobs WHERE kind != 'cut' ORDER BY id DESC LIMIT ?"
        rows = await self._rows(query, (limit,))
        return [job_from_row(row) for row in rows]
