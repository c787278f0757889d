"""Issue 10, items 1 and 4: the app deletes only files it named, and never through a symlink.

Real project folders, real symlinks, and the real `storyboard` command.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tui.engine.assets import atomic_write, remove_asset, sweep
from tui.errors import StoreError
from tui.folder import ProjectFolder, asset_name, owner_key, temp_name

STORYBOARD = [sys.executable, "-m", "tui"]
USER_BYTES = b"the user's own reference picture"


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*STORYBOARD, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "160"},
    )


def ok(*args: str | Path) -> str:
    result = run(*args)
    assert result.returncode == 0, (result.stdout, result.stderr)
    return result.stdout


def scenes(project: Path) -> dict[int, dict[str, Any]]:
    payload = json.loads(ok("status", project, "--json"))
    return {scene["position"]: scene for scene in payload["scenes"]}


def link_images_to(project: Path, shared: Path) -> None:
    """Make the project's assets/images a symlink to `shared`, keeping what was there."""
    images = project / "assets" / "images"
    shared.mkdir(exist_ok=True)
    for entry in images.iterdir():
        shutil.move(str(entry), shared / entry.name)
    images.rmdir()
    images.symlink_to(shared, target_is_directory=True)


# -- item 1: deleting through a symlink --------------------------------------------


@pytest.mark.slow
def test_a_replaced_asset_that_is_a_symlink_is_removed_as_a_link(project_dir: Path) -> None:
    """Issue 10 item 1: a forced new take of an image whose file is a symlink to the
    user's assets/images/my_ref.png removes the link, and my_ref.png survives."""
    ok("regen", project_dir, "--images", "--include-missing", "--scene", "4")
    old = scenes(project_dir)[4]["image_file"]
    link = project_dir / old
    my_ref = project_dir / "assets" / "images" / "my_ref.png"
    my_ref.write_bytes(USER_BYTES)
    link.unlink()
    link.symlink_to(my_ref)

    ok("regen", project_dir, "--images", "--force", "--scene", "4")

    assert my_ref.read_bytes() == USER_BYTES
    assert not os.path.lexists(link), "the old link itself is gone"
    new = scenes(project_dir)[4]
    assert new["image_file"] != old and new["image"] == "clean"
    assert (project_dir / new["image_file"]).is_file()


def test_remove_asset_unlinks_a_link_and_never_its_target(tmp_path: Path) -> None:
    """Issue 10 item 1: remove_asset takes the stored name and removes a symlink as a link."""
    folder = ProjectFolder(tmp_path / "film")
    folder.ensure_layout()
    target = tmp_path / "my_ref.png"
    target.write_bytes(USER_BYTES)
    name = asset_name(4, "1a2b3c4d-0000", ".png")
    (folder.images_dir / name).symlink_to(target)
    assert remove_asset(folder, f"assets/images/{name}") is True
    assert not os.path.lexists(folder.images_dir / name)
    assert target.read_bytes() == USER_BYTES


@pytest.mark.parametrize(
    "stored",
    [
        "assets/images/my_ref.png",  # not the app's naming
        "assets/audio/scene-0001-1a2b3c4d.wav",  # not a folder the app replaces files in
        "assets/images/../../my_ref.png",
        "/etc/scene-0001-1a2b3c4d.png",
        "assets/images/sub/scene-0001-1a2b3c4d.png",
    ],
)
def test_remove_asset_refuses_names_the_app_did_not_make(tmp_path: Path, stored: str) -> None:
    """Issue 10 item 1: the app deletes only regular files that it named itself."""
    folder = ProjectFolder(tmp_path / "film")
    folder.ensure_layout()
    (folder.images_dir / "sub").mkdir()
    user_files = [
        folder.images_dir / "my_ref.png",
        folder.audio_dir / "scene-0001-1a2b3c4d.wav",
        folder.images_dir / "sub" / "scene-0001-1a2b3c4d.png",
        tmp_path / "my_ref.png",
    ]
    for path in user_files:
        path.write_bytes(USER_BYTES)
    assert remove_asset(folder, stored) is False
    assert all(path.read_bytes() == USER_BYTES for path in user_files)


def test_remove_asset_leaves_a_directory_with_an_asset_name(tmp_path: Path) -> None:
    """Issue 10 item 1: only a regular file or a link is ever removed."""
    folder = ProjectFolder(tmp_path / "film")
    folder.ensure_layout()
    name = asset_name(1, "1a2b3c4d", ".png")
    (folder.images_dir / name).mkdir()
    (folder.images_dir / name / "inside.txt").write_bytes(USER_BYTES)
    assert remove_asset(folder, f"assets/images/{name}") is False
    assert (folder.images_dir / name / "inside.txt").read_bytes() == USER_BYTES


def test_atomic_write_never_writes_through_a_planted_temp_link(tmp_path: Path) -> None:
    """Issue 10 item 1: a leftover temp name that is a symlink is removed as a link,
    never opened for writing (which would overwrite the user's file)."""
    folder = ProjectFolder(tmp_path / "film")
    folder.ensure_layout()
    target = tmp_path / "my_ref.png"
    target.write_bytes(USER_BYTES)
    final = folder.images_dir / asset_name(2, "abcdef12", ".png")
    (folder.images_dir / temp_name(final.name)).symlink_to(target)
    atomic_write(final, b"new still")
    assert target.read_bytes() == USER_BYTES
    assert final.read_bytes() == b"new still" and not final.is_symlink()
    assert not os.path.lexists(folder.images_dir / temp_name(final.name))


# -- item 4: symlinked asset folders, containment on the logical path ---------------


def test_resolve_asset_judges_the_logical_path(tmp_path: Path) -> None:
    """Issue 10 item 4: a symlinked assets/images is inside the project; `..`, absolute
    paths and names outside assets/ are not, wherever they happen to point."""
    folder = ProjectFolder(tmp_path / "film")
    folder.ensure_layout()
    shared = tmp_path / "shared"
    link_images_to(folder.root, shared)
    path = folder.resolve_asset("assets/images/scene-0001-1a2b3c4d.png")
    assert path == folder.root / "assets/images/scene-0001-1a2b3c4d.png"
    for bad in (
        "assets/images/../../storyboard.db",
        "/tmp/x.png",
        "storyboard.db",
        "assets",
        "",
        "./assets/images/x.png",
        "assets/images\\..\\x.png",
    ):
        with pytest.raises(StoreError, match="outside the project's assets folder"):
            folder.resolve_asset(bad)


@pytest.mark.slow
def test_a_symlinked_images_folder_regenerates_and_replaces(
    project_dir: Path, tmp_path: Path
) -> None:
    """Issue 10 item 4: with assets/images a symlink to another folder, images and the
    videos made from them are produced, and a new take replaces the old still there."""
    shared = tmp_path / "shared-images"
    link_images_to(project_dir, shared)
    ok("regen", project_dir, "--include-missing", "--scene", "1", "--scene", "2")
    before = scenes(project_dir)
    assert [(before[p]["image"], before[p]["video"]) for p in (1, 2)] == [("clean", "clean")] * 2
    old = before[1]["image_file"]
    assert (shared / Path(old).name).is_file()

    ok("regen", project_dir, "--images", "--force", "--scene", "1")
    after = scenes(project_dir)[1]
    assert not (shared / Path(old).name).exists(), "the replaced still is deleted"
    assert (shared / Path(after["image_file"]).name).is_file()
    assert (after["image"], after["video"]) == ("clean", "dirty")


@pytest.mark.slow
def test_regen_videos_works_with_the_images_folder_linked_elsewhere(
    project_dir: Path, tmp_path: Path
) -> None:
    """Issue 10 item 4: the reported case: stills made into a linked assets/images, then
    `regen --videos` makes every clip from them and exits (no job is left submitted)."""
    shared = tmp_path / "big-disk" / "images"
    shared.parent.mkdir()
    link_images_to(project_dir, shared)
    ok("regen", project_dir, "--images", "--include-missing")
    result = run("regen", project_dir, "--videos", "--include-missing")
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert "5 succeeded, 0 failed" in result.stdout
    after = scenes(project_dir)
    assert all((s["image"], s["video"]) == ("clean", "clean") for s in after.values())
    assert all((shared / Path(s["image_file"]).name).is_file() for s in after.values())
    with sqlite3.connect(project_dir / "storyboard.db") as db:
        states = dict(db.execute("SELECT state, count(*) FROM jobs GROUP BY state").fetchall())
    assert states == {"succeeded": 10}


async def test_a_job_whose_spec_cannot_be_built_fails_and_the_rest_run(
    project_dir: Path,
) -> None:
    """Issue 10 item 4: any exception while dispatching (here, building the job's spec
    from damaged parameters) fails that job with its message; it is never left
    submitted, and the jobs after it still run."""
    from tests.instant_backend import InstantBackend
    from tui.domain.jobs import JobState
    from tui.domain.models import AssetKind
    from tui.engine.engine import Engine
    from tui.engine.project import Project
    from tui.engine.requests import job_params

    async with await Project.open(project_dir) as project:
        engine = Engine(project, InstantBackend())
        scene = await project.store.scene_at(1)
        params = job_params(scene, AssetKind.IMAGE, engine.context)
        params["position"] = "one"  # what no spec can be built from
        broken = await project.store.insert_job(
            scene_id=scene.id,
            kind=AssetKind.IMAGE,
            params=params,
            params_hash="damaged",
            backend="draft",
            backend_job_id="0badc0de-0000-4000-8000-000000000000",
        )
        await engine.start()
        plan = await engine.request(
            [AssetKind.IMAGE],
            scene_ids=[(await project.store.scene_at(p)).id for p in (2, 3)],
            include_missing=True,
        )
        async with asyncio.timeout(30):  # a job left submitted would never let it idle
            await engine.wait_idle()
        await engine.stop()
        job = await project.store.job(broken.id)
        assert job.state is JobState.FAILED
        assert job.error is not None and "one" in job.error
        for queued in plan.jobs:
            assert (await project.store.job(queued.id)).state is JobState.SUCCEEDED


@pytest.mark.slow
async def test_two_projects_sharing_an_images_folder_keep_each_others_files(
    tmp_path: Path, write_json: Any
) -> None:
    """Issue 10 item 4: one project's start-up sweep never deletes another project's
    new still in a folder both link to."""
    from tests.conftest import storyboard_json
    from tui.store.importer import create_project

    source = write_json(storyboard_json(3))
    first = (await create_project(tmp_path / "first", source)).root
    second = (await create_project(tmp_path / "second", source)).root
    shared = tmp_path / "shared-images"
    link_images_to(first, shared)
    link_images_to(second, shared)
    mine = shared / "my-own-notes.png"
    mine.write_bytes(USER_BYTES)

    ok("regen", second, "--images", "--include-missing", "--scene", "1")
    theirs = scenes(second)[1]["image_file"]
    # The first project starts its engine (and its sweep) after the second's still exists.
    ok("regen", first, "--images", "--include-missing", "--scene", "2")

    assert (second / theirs).is_file(), "the other project's still survives the sweep"
    assert scenes(second)[1]["image"] == "clean"
    assert mine.read_bytes() == USER_BYTES


def test_sweep_deletes_only_its_own_keys_and_temps(tmp_path: Path) -> None:
    """Issue 10 item 4: the sweep deletes only files whose key its own database issued
    (or its own temp names), never another project's files or the user's."""
    folder = ProjectFolder(tmp_path / "film")
    folder.ensure_layout()
    images, videos = folder.images_dir, folder.videos_dir
    mine, other = "1a2b3c4d-aaaa-4bbb-8ccc-000000000001", "99999999-aaaa-4bbb-8ccc-000000000002"
    user = tmp_path / "my_ref.png"
    user.write_bytes(USER_BYTES)

    referenced = images / asset_name(1, mine, ".png")
    orphan = images / asset_name(2, mine, ".png")
    own_temp = videos / temp_name(asset_name(3, mine, ".mp4"))
    own_link = videos / asset_name(4, mine, ".mp4")
    foreign = images / asset_name(2, other, ".png")
    foreign_temp = images / temp_name(asset_name(2, other, ".png"))
    stray_temp = images / temp_name("holiday.png")
    user_named = images / "holiday.png"
    for path in (referenced, orphan, own_temp, foreign, foreign_temp, stray_temp, user_named):
        path.write_bytes(b"x")
    own_link.symlink_to(user)

    removed = sweep(folder, [folder.relative(referenced)], [mine])

    assert sorted(removed) == sorted([orphan, own_temp, own_link])
    for kept in (referenced, foreign, foreign_temp, stray_temp, user_named):
        assert kept.exists(), kept.name
    assert user.read_bytes() == USER_BYTES


def test_sweep_without_keys_counts_only_referenced_names_as_its_own(tmp_path: Path) -> None:
    """Issue 10 item 4: with no keys given the sweep errs on the side of keeping files."""
    folder = ProjectFolder(tmp_path / "film")
    folder.ensure_layout()
    referenced = folder.images_dir / asset_name(1, "1a2b3c4d", ".png")
    half_written = folder.images_dir / temp_name(asset_name(1, "1a2b3c4d", ".png"))
    foreign = folder.images_dir / asset_name(2, "99999999", ".png")
    for path in (referenced, half_written, foreign):
        path.write_bytes(b"x")
    assert sweep(folder, [folder.relative(referenced)]) == [half_written]
    assert referenced.exists() and foreign.exists()


def test_owner_key_reads_only_the_apps_own_names() -> None:
    """Issue 10 item 4: a temp name is ours only if its final name is."""
    assert owner_key("scene-0007-1a2b3c4d.png") == "1a2b3c4d"
    assert owner_key(".tmp-scene-0007-1a2b3c4d.mp4") == "1a2b3c4d"
    assert owner_key(".tmp-holiday.png") is None
    assert owner_key("scene-0007-1A2B3C4D.png") is None
    assert owner_key("my_ref.png") is None


# -- item 9: a deleted asset file is missing everywhere ---------------------------------


def test_a_deleted_still_is_missing_in_status_counts_and_regen(project_dir: Path) -> None:
    """Issue 10 item 9: `rm` a still and `status` says missing (why: the file is gone), the
    counts include it, `--include-missing` remakes it, and a video of that scene is
    refused with "Cannot generate video without an image" instead of `[Errno 2]`."""
    ok("regen", project_dir, "--include-missing", "--scene", "2", "--scene", "3")
    still = project_dir / scenes(project_dir)[2]["image_file"]
    still.unlink()

    scene = scenes(project_dir)[2]
    assert (scene["image"], scene["video"]) == ("missing", "clean")
    assert scene["image_file"] is None
    assert scene["why"]["image"] == ["the image file is gone"]
    table = ok("status", project_dir)
    assert "0 dirty images, 4 missing" in table  # 1, 4, 5 never made, 2 deleted
    assert "would regenerate scene 2 image: the image file is gone" in ok(
        "regen", project_dir, "--images", "--include-missing", "--dry-run"
    )
    assert "nothing to do" in ok("regen", project_dir, "--images", "--scene", "3")

    refused = run("regen", project_dir, "--videos", "--force", "--scene", "2")
    assert refused.returncode == 2, refused.stdout
    assert "Cannot generate video without an image" in refused.stderr
    assert "Errno" not in refused.stderr

    ok("regen", project_dir, "--images", "--include-missing", "--scene", "2")
    again = scenes(project_dir)[2]
    assert again["image"] == "clean" and (project_dir / again["image_file"]).is_file()


def test_a_deleted_clip_is_missing_and_remade_with_include_missing(project_dir: Path) -> None:
    """Issue 10 item 9: the same for a clip; a batch without --include-missing leaves it."""
    ok("regen", project_dir, "--include-missing", "--scene", "1")
    (project_dir / scenes(project_dir)[1]["video_file"]).unlink()
    assert scenes(project_dir)[1]["video"] == "missing"
    assert "nothing to do" in ok("regen", project_dir)
    ok("regen", project_dir, "--videos", "--include-missing")
    scene = scenes(project_dir)[1]
    assert (scene["image"], scene["video"]) == ("clean", "clean")


async def test_presence_is_a_lookup_until_the_folder_is_looked_at_again(
    project_dir: Path,
) -> None:
    """Issue 10 item 9: judging a scene costs no stat; `refresh_files()` (the TUI's change
    poll) finds the deletion and names the file, and the status follows."""
    from tests.instant_backend import InstantBackend
    from tui.domain.models import AssetState
    from tui.engine.engine import Engine
    from tui.engine.project import Project

    async with await Project.open(project_dir) as project:
        engine = Engine(project, InstantBackend())
        await engine.start()
        await engine.request(include_missing=True)
        await engine.wait_idle()
        await engine.stop()
        assert await project.refresh_files()  # the new files appeared
        scene = await project.store.scene_at(4)
        assert scene.image is not None
        (project.folder.root / scene.image.file).unlink()
        assert project.status(scene).image is AssetState.CLEAN  # no stat per judgement
        assert await project.refresh_files() == {scene.image.file}
        assert project.status(scene).image is AssetState.MISSING
        assert await project.refresh_files() == frozenset()


async def test_a_still_deleted_after_its_video_was_queued_fails_that_job_in_words(
    project_dir: Path,
) -> None:
    """Issue 10 item 9: a video whose still vanishes before it runs fails with "Cannot
    generate video without an image", not a file error from the renderer."""
    from tests.instant_backend import InstantBackend
    from tui.domain.jobs import JobState
    from tui.domain.models import AssetKind
    from tui.engine.engine import Engine
    from tui.engine.project import Project
    from tui.engine.requests import NO_IMAGE

    async with await Project.open(project_dir) as project:
        engine = Engine(project, InstantBackend())
        await engine.start()
        await engine.request([AssetKind.IMAGE], include_missing=True)
        await engine.wait_idle()
        await engine.stop()
        backend = InstantBackend(hold=True, window=1)
        engine = Engine(project, backend)
        await engine.start()
        first = await project.store.scene_at(1)
        second = await project.store.scene_at(2)
        await engine.request([AssetKind.VIDEO], scene_ids=[first.id], include_missing=True)
        await backend.settle(lambda: len(backend.held) == 1)
        plan = await engine.request([AssetKind.VIDEO], scene_ids=[second.id], include_missing=True)
        assert second.image is not None
        (project.folder.root / second.image.file).unlink()
        backend.release_all()
        async with asyncio.timeout(30):
            await engine.wait_idle()
        await engine.stop()
        job = await project.store.job(plan.jobs[0].id)
        assert job.state is JobState.FAILED and job.error == NO_IMAGE
