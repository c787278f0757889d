"""Issue 10 items 11, 12 and 13: the database is read only when asked to write, and a damaged
file or a full disk is one line, never a traceback, and never a changed project.

Real SQLite files, real read-only folders, a real small filesystem, and the real
`storyboard` command.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import storyboard_json
from tests.processes import (
    make_project,
    pid_alive,
    run,
    start,
    wait_for_successes,
    wait_until,
)
from tests.processes import (
    small_disk as mounted_small_disk,
)
from tui.engine.runfiles import RunFiles
from tui.store.repository import ProjectStore
from tui.store.schema import LATEST_VERSION, MIGRATIONS

RECOVER = 'sqlite3 storyboard.db ".recover"'


def one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def close_cleanly(project: Path) -> None:
    """Checkpoint and close as the last writer does, so no -wal or -shm file is left."""
    db = sqlite3.connect(project / "storyboard.db")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    for suffix in ("-wal", "-shm"):
        assert not (project / f"storyboard.db{suffix}").exists()


@pytest.fixture
def frozen(project_dir: Path) -> Iterator[Path]:
    """A project folder nobody can write in, not even root (`chattr +i`)."""
    if shutil.which("chattr") is None:
        pytest.skip("chattr is not available")
    close_cleanly(project_dir)
    made = subprocess.run(["chattr", "+i", str(project_dir)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot make a read-only folder here: {made.stderr.strip()}")
    yield project_dir
    subprocess.run(["chattr", "-i", str(project_dir)], check=True)


# -- item 11: nothing is changed on a read ---------------------------------------------


def test_an_empty_database_is_refused_and_left_empty(project_dir: Path) -> None:
    """Issue 10 item 11: a 0-byte storyboard.db is not migrated in place by `status` (nor by
    any other command); it is named in one line and stays 0 bytes."""
    db = project_dir / "storyboard.db"
    db.write_bytes(b"")
    for name in ("storyboard.db-wal", "storyboard.db-shm"):
        (project_dir / name).unlink(missing_ok=True)
    for args in (["status"], ["status", "--json"], ["set", "1", "motion=0.3"], ["regen"]):
        command = [args[0], project_dir, *args[1:]]
        one_line_error(run(*command), "storyboard.db", "empty")
        assert db.stat().st_size == 0, args


async def test_an_empty_file_gets_a_schema_only_when_created(tmp_path: Path) -> None:
    """Issue 10 item 11: the store never gives a schema to a file it did not create."""
    db = tmp_path / "storyboard.db"
    sqlite3.connect(db).close()
    for writable in (False, True):
        with pytest.raises(Exception, match="an empty file"):
            await ProjectStore.open(db, writable=writable)
    assert db.stat().st_size == 0
    store = await ProjectStore.open(db, create=True)
    await store.close()
    with sqlite3.connect(db) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == LATEST_VERSION


def test_status_changes_no_byte_of_the_database(project_dir: Path) -> None:
    """Issue 10 item 11: `status` opens the database read-only."""
    close_cleanly(project_dir)
    db = project_dir / "storyboard.db"
    before = (digest(db), db.stat().st_mtime_ns)
    assert run("status", project_dir).returncode == 0
    assert run("status", project_dir, "--json").returncode == 0
    assert (digest(db), db.stat().st_mtime_ns) == before


def _downgrade_to_v1(project: Path) -> None:
    """Rebuild the project's database as schema version 1 with the same rows."""
    db_path = project / "storyboard.db"
    close_cleanly(project)
    old = sqlite3.connect(db_path)
    project_row = old.execute("SELECT id, name, width, height, fps, rev, created FROM project")
    project_values = project_row.fetchone()
    scenes = old.execute(
        "SELECT id, position, narration, audio_file, audio_duration, image_prompt, "
        "negative_prompt, seed, video_prompt, camera, motion, rev FROM scenes"
    ).fetchall()
    old.close()
    db_path.unlink()
    v1 = sqlite3.connect(db_path)
    v1.executescript(MIGRATIONS[1])
    v1.execute("INSERT INTO project VALUES (?, ?, ?, ?, ?, ?, ?)", project_values)
    v1.executemany("INSERT INTO scenes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", scenes)
    v1.execute("PRAGMA user_version = 1")
    v1.commit()
    v1.close()


def test_an_older_schema_is_read_as_it_is_and_migrated_only_by_a_write(
    project_dir: Path,
) -> None:
    """Issue 10 item 11: a reader of an older schema migrates a copy in memory; the file is
    migrated by the first command that writes."""
    _downgrade_to_v1(project_dir)
    db = project_dir / "storyboard.db"
    before = digest(db)
    result = run("status", project_dir, "--json")
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["scenes"]) == 5
    assert digest(db) == before
    assert run("set", project_dir, "1", "motion=0.3").returncode == 0
    with sqlite3.connect(db) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == LATEST_VERSION
        assert raw.execute("SELECT motion FROM scenes WHERE position = 1").fetchone()[0] == 0.3


def test_a_read_only_project_can_be_viewed_with_status(frozen: Path) -> None:
    """Issue 10 item 11: a project that can only be read still shows its status; a write
    is refused in one line naming the file."""
    result = run("status", frozen)
    assert result.returncode == 0, result.stderr
    assert "0 dirty images, 5 missing" in result.stdout
    payload = json.loads(run("status", frozen, "--json").stdout)
    assert [scene["position"] for scene in payload["scenes"]] == [1, 2, 3, 4, 5]
    one_line_error(run("set", frozen, "1", "motion=0.9"), "storyboard.db", "read-only")


def test_an_older_schema_on_a_read_only_folder_can_be_viewed(project_dir: Path) -> None:
    """Issue 10 item 11: an old project on read-only storage is viewed without migrating it."""
    if shutil.which("chattr") is None:
        pytest.skip("chattr is not available")
    _downgrade_to_v1(project_dir)
    made = subprocess.run(["chattr", "+i", str(project_dir)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot make a read-only folder here: {made.stderr.strip()}")
    try:
        result = run("status", project_dir, "--json")
    finally:
        subprocess.run(["chattr", "-i", str(project_dir)], check=True)
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["scenes"]) == 5


# -- item 12: a damaged page is one line with a way out ------------------------------------


def damage_page(db: Path, offset: int = 12288) -> None:
    with open(db, "r+b") as handle:
        handle.seek(offset)
        handle.write(b"\xff" * 4096)


@pytest.fixture
def damaged(tmp_path: Path) -> Path:
    project = make_project(tmp_path, 300)
    close_cleanly(project)
    damage_page(project / "storyboard.db")
    return project


@pytest.mark.parametrize(
    "args",
    [
        ["status"],
        ["status", "--json"],
        ["set", "1", "motion=0.3"],
        ["regen", "--include-missing"],
        ["regen", "--dry-run"],
    ],
)
def test_a_damaged_page_is_one_line_naming_the_file_with_a_hint(
    damaged: Path, args: list[str]
) -> None:
    """Issue 10 item 12: exit 2 and one line naming the file, with the `.recover` hint."""
    one_line_error(run(args[0], damaged, *args[1:]), str(damaged / "storyboard.db"), RECOVER)


def _root_page(project: Path, table: str) -> int:
    with sqlite3.connect(project / "storyboard.db") as db:
        row = db.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()
    return int(row[0])


@pytest.mark.slow
@pytest.mark.parametrize(("table", "scenes"), [("scenes_position", 60), ("jobs", 300)])
def test_damage_found_mid_run_ends_regen_in_one_line(
    tmp_path: Path, table: str, scenes: int
) -> None:
    """Issue 10 item 12: a page damaged while `regen` follows a batch ends it with exit 2 and
    the same line, whether the follower meets the damage itself (a scene index) or the
    runner does (the jobs table) and stops; nobody hangs."""
    # The follower meets a broken scene index only when it reads the scenes back, after
    # the batch: 60 scenes keep that short. The runner must still be writing jobs when
    # their table breaks: 600 jobs make sure (with 120 the batch could end first).
    project = make_project(tmp_path, scenes)
    page = _root_page(project, table)
    proc = start("regen", project, "--include-missing")
    try:
        wait_for_successes(project, 5)
        with sqlite3.connect(project / "storyboard.db", timeout=30) as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        damage_page(project / "storyboard.db", (page - 1) * 4096)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 2, (out[-400:], err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and RECOVER in lines[0], err
    assert str(project / "storyboard.db") in lines[0]
    wait_until(lambda: not runners_of(project), 30, "every runner of the project to exit")
    if table == "jobs":
        log = RunFiles(project).log.read_text(encoding="utf-8")
        assert "the database is damaged" in log


def runners_of(project: Path) -> list[int]:
    """Live runner processes serving `project`, found by their command line."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if str(project).encode() in argv and b"serve" in argv and pid_alive(int(entry.name)):
            found.append(int(entry.name))
    return found


# -- item 13: a full disk during COMMIT ------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    with mounted_small_disk(tmp_path, 8) as mount:
        yield mount


def fill(disk: Path) -> Path:
    """Take every free byte of the filesystem; returns the filler file."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)
    return filler


def test_a_full_disk_during_commit_is_one_line_and_the_project_stays_whole(
    small_disk: Path,
) -> None:
    """Issue 10 item 13: a full disk while queueing a big batch (SQLite rolls back by itself
    mid-statement) or saving an edit says the disk is full in one line, never "cannot
    rollback", changes nothing, and `integrity_check` is ok. Another window (a TUI) has the
    project open meanwhile, as it would."""
    source = small_disk / "story.json"
    source.write_text(json.dumps(storyboard_json(3000)), encoding="utf-8")
    project = small_disk / "film"
    assert run("new", project, "--from", source).returncode == 0
    source.unlink()
    db = project / "storyboard.db"
    window = sqlite3.connect(db)
    try:
        before = window.execute("SELECT * FROM scenes ORDER BY id").fetchall()
        filler = fill(small_disk)
        one_line_error(run("regen", project, "--include-missing", "--no-wait"), "disk is full")
        long_text = "x" * 120_000
        one_line_error(run("set", project, "1", f"narration={long_text}"), "disk is full")
        filler.unlink()
        assert window.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert window.execute("SELECT * FROM scenes ORDER BY id").fetchall() == before
        assert window.execute("SELECT count(*) FROM jobs").fetchone() == (0,)
    finally:
        window.close()
    result = run("set", project, "2", "motion=0.9")
    assert result.returncode == 0, result.stderr
