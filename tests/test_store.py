"""The SQLite store: schema, one-transaction edits, and one-line errors for broken files."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tui.domain.camera import CameraMovement
from tui.domain.edits import EditError
from tui.domain.jobs import JobState
from tui.domain.models import Asset, AssetKind, ProjectInfo
from tui.errors import NotFoundError, StoreError
from tui.store.repository import ProjectStore
from tui.store.schema import LATEST_VERSION

SCENE = {
    "narration": "Hello.",
    "audio_duration": 2.0,
    "audio_file": None,
    "image_prompt": "a cat",
    "negative_prompt": "",
    "video_prompt": "it walks",
    "camera": "static",
    "motion": 0.5,
    "seed": 1,
}


async def new_store(tmp_path: Path, scenes: int = 2) -> ProjectStore:
    store = await ProjectStore.open(tmp_path / "storyboard.db", create=True)
    await store.init_project(ProjectInfo(name="t"))
    await store.add_scenes([{**SCENE, "narration": f"n{i}"} for i in range(scenes)])
    return store


async def test_pragmas_and_schema_version(tmp_path: Path) -> None:
    store = await new_store(tmp_path)
    async with store._db.execute("PRAGMA journal_mode") as cursor:
        assert (await cursor.fetchone())[0] == "wal"
    async with store._db.execute("PRAGMA foreign_keys") as cursor:
        assert (await cursor.fetchone())[0] == 1
    async with store._db.execute("PRAGMA busy_timeout") as cursor:
        assert (await cursor.fetchone())[0] >= 1000
    async with store._db.execute("PRAGMA user_version") as cursor:
        assert (await cursor.fetchone())[0] == LATEST_VERSION
    await store.close()


async def test_scenes_are_numbered_and_round_trip(tmp_path: Path) -> None:
    store = await new_store(tmp_path, scenes=3)
    scenes = await store.scenes()
    assert [s.position for s in scenes] == [1, 2, 3]
    assert scenes[0].camera is CameraMovement.STATIC
    assert (await store.scene_at(2)).narration == "n1"
    with pytest.raises(NotFoundError, match="scene 9 is out of range"):
        await store.scene_at(9)
    await store.close()


async def test_edit_writes_only_changed_fields_and_bumps_rev(tmp_path: Path) -> None:
    store = await new_store(tmp_path)
    scene = (await store.scenes())[0]
    before = await store.rev()
    updated = await store.update_scene(scene.id, {"camera": "pan_left", "motion": "0.7"})
    assert updated.camera is CameraMovement.PAN_LEFT and updated.motion == 0.7
    assert updated.rev == before + 1 == await store.rev()
    assert await store.scene(scene.id) == updated
    changed = await store.scenes_changed_since(before)
    assert [s.id for s in changed] == [scene.id]
    await store.close()


async def test_setting_current_value_writes_nothing(tmp_path: Path) -> None:
    store = await new_store(tmp_path)
    scene = (await store.scenes())[0]
    before = await store.rev()
    same = await store.update_scene(scene.id, {"image_prompt": "a cat", "motion": 0.5})
    assert same == scene
    assert await store.rev() == before
    await store.close()


async def test_invalid_edit_is_refused_and_nothing_changes(tmp_path: Path) -> None:
    store = await new_store(tmp_path)
    scene = (await store.scenes())[0]
    with pytest.raises(EditError, match="motion must be between 0 and 1"):
        await store.update_scene(scene.id, {"image_prompt": "dog", "motion": 3})
    assert await store.scene(scene.id) == scene
    await store.close()


async def test_asset_replacement_returns_old_file(tmp_path: Path) -> None:
    store = await new_store(tmp_path)
    scene = (await store.scenes())[0]
    now = datetime.now(UTC)
    first = Asset(
        kind=AssetKind.IMAGE,
        file="assets/images/a.png",
        content_hash="1",
        inputs={"x": 1},
        created=now,
    )
    assert await store.set_asset(scene.id, first) is None
    second = first.model_copy(update={"file": "assets/images/b.png", "content_hash": "2"})
    assert await store.set_asset(scene.id, second) == "assets/images/a.png"
    stored = await store.scene(scene.id)
    assert stored.image is not None and stored.image.file == "assets/images/b.png"
    assert stored.image.inputs == {"x": 1}
    assert await store.asset_files() == {"assets/images/b.png"}
    await store.close()


async def test_job_journal(tmp_path: Path) -> None:
    store = await new_store(tmp_path)
    scene = (await store.scenes())[0]
    job = await store.insert_job(
        scene_id=scene.id,
        kind=AssetKind.IMAGE,
        params={"p": 1},
        params_hash="h",
        backend="draft",
        backend_job_id="uuid-1",
    )
    assert job.state is JobState.QUEUED
    newer = await store.insert_job(
        scene_id=scene.id,
        kind=AssetKind.IMAGE,
        params={"p": 2},
        params_hash="h2",
        backend="draft",
        backend_job_id="uuid-2",
        supersede=[job.id],
    )
    assert (await store.job(job.id)).state is JobState.SUPERSEDED
    await store.update_job(newer.id, state=JobState.RUNNING, progress=0.5)
    assert [j.id for j in await store.active_jobs()] == [newer.id]
    asset = Asset(
        kind=AssetKind.IMAGE,
        file="assets/images/c.png",
        content_hash="3",
        inputs={"p": 2},
        created=datetime.now(UTC),
        job_id=newer.id,
    )
    await store.finish_job(newer.id, scene.id, asset)
    assert (await store.job(newer.id)).state is JobState.SUCCEEDED
    assert await store.active_jobs() == []
    with pytest.raises(ValueError):
        await store.update_job(newer.id, scene_id=5)
    await store.close()


async def test_newer_schema_is_refused_with_one_line(tmp_path: Path) -> None:
    store = await new_store(tmp_path)
    await store.close()
    db = tmp_path / "storyboard.db"
    with sqlite3.connect(db) as raw:
        raw.execute(f"PRAGMA user_version = {LATEST_VERSION + 5}")
    with pytest.raises(StoreError) as info:
        await ProjectStore.open(db)
    message = str(info.value)
    assert str(db) in message and "newer Storyboard" in message and "\n" not in message


async def test_corrupt_file_is_refused_with_one_line(tmp_path: Path) -> None:
    db = tmp_path / "storyboard.db"
    db.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StoreError) as info:
        await ProjectStore.open(db)
    assert str(db) in str(info.value) and "\n" not in str(info.value)


async def test_a_v1_database_is_migrated_by_its_first_write(tmp_path: Path) -> None:
    """A database of schema 1 is read as it is and migrated forward when first written."""
    from tui.store.schema import MIGRATIONS

    db = tmp_path / "storyboard.db"
    with sqlite3.connect(db) as raw:
        raw.executescript(MIGRATIONS[1])
        raw.execute(
            "INSERT INTO project (id, name, width, height, fps, rev, created) "
            "VALUES (1, 'old', 64, 64, 8, 0, '2026-01-01T00:00:00+00:00')"
        )
        raw.execute("PRAGMA user_version = 1")
    store = await ProjectStore.open(db)
    assert (await store.project()).name == "old"
    assert not store.writable
    await store.add_scenes([SCENE])
    assert store.writable
    await store.close()
    with sqlite3.connect(db) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == LATEST_VERSION
        tables = {row[0] for row in raw.execute("SELECT name FROM sqlite_master")}
    assert {"project", "scenes", "assets", "jobs"} <= tables


async def test_schema_3_keeps_every_job_and_takes_a_project_level_job(tmp_path: Path) -> None:
    """Issue 13 §3: migrating a schema-2 journal keeps its jobs (and their waits); the cut's
    job has no scene, a scene job must have one, and scene queries never return it."""
    from tui.store.schema import MIGRATIONS

    db = tmp_path / "storyboard.db"
    with sqlite3.connect(db) as raw:
        raw.executescript(MIGRATIONS[1] + MIGRATIONS[2])
        raw.execute(
            "INSERT INTO project (id, name, width, height, fps, rev, created) "
            "VALUES (1, 'old', 64, 64, 8, 5, '2026-01-01T00:00:00+00:00')"
        )
        raw.execute(
            "INSERT INTO scenes (id, position, narration, audio_duration) VALUES (1, 1, 'n', 2)"
        )
        for job_id, kind, depends in ((1, "image", None), (2, "video", 1)):
            raw.execute(
                "INSERT INTO jobs (id, scene_id, kind, params, params_hash, backend, "
                "backend_job_id, state, depends_on, created, updated, rev) "
                "VALUES (?, 1, ?, '{}', 'h', 'draft', ?, 'queued', ?, ?, ?, 5)",
                (job_id, kind, f"key-{job_id}", depends, "2026-01-01T00:00:00", "2026-01-01"),
            )
        raw.execute("PRAGMA user_version = 2")
    store = await ProjectStore.open(db, writable=True)
    jobs = await store.active_jobs()
    assert [(job.id, job.kind.value, job.depends_on) for job in jobs] == [
        (1, "image", None),
        (2, "video", 1),
    ]
    cut = await store.atomically(lambda tx: tx.insert_cut_job({"output": "x.mp4"}, "key-cut"))
    assert [job.id for job in await store.active_jobs()] == [1, 2]
    assert [job.id for job in await store.read(lambda tx: tx.active_cut_jobs())] == [cut.id]
    assert await store.read(lambda tx: tx.job(cut.id)) is None
    with pytest.raises(StoreError):  # a scene job without a scene breaks the table's rule
        await store.atomically(
            lambda tx: tx.db.execute(
                "INSERT INTO jobs (scene_id, kind, params, params_hash, backend, "
                "backend_job_id, state, created, updated) "
                "VALUES (NULL, 'image', '{}', '', 'draft', 'k', 'queued', '', '')"
            )
        )
    await store.close()
    with sqlite3.connect(db) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == LATEST_VERSION
        assert raw.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert raw.execute("PRAGMA foreign_key_check").fetchall() == []
        references = raw.execute("PRAGMA foreign_key_list(jobs)").fetchall()
        assert {row[2] for row in references} == {"scenes", "jobs"}
