"""Importing projects from JSON files and sample folders, on real folders."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SAMPLE, storyboard_json
from tui.domain.models import AssetKind, AssetState
from tui.engine.project import Project
from tui.errors import StoreError
from tui.folder import OWN_NAME
from tui.store.importer import create_project, load_source


async def test_a_json_import_keeps_every_field(
    tmp_path: Path, write_json: Callable[..., Path]
) -> None:
    data = storyboard_json(3)
    data["scenes"][1].pop("seed")
    folder = await create_project(tmp_path / "film", write_json(data))
    async with await Project.open(folder.root) as project:
        scenes = await project.scenes()
        assert [s.position for s in scenes] == [1, 2, 3]
        first = scenes[0]
        assert first.narration == "Sentence number 1 of the story."
        assert (first.camera.value, first.motion, first.seed) == ("pan_left", 0.1, 101)
        assert 0 <= scenes[1].seed < 2**32
        assert project.settings.width == 96 and project.settings.fps == 8
        assert project.status(first).image is AssetState.MISSING
    assert sorted(p.name for p in folder.root.iterdir()) == ["assets", "storyboard.db"]


async def test_a_sample_folder_ships_its_files_under_our_own_names(tmp_path: Path) -> None:
    folder = await create_project(tmp_path / "copy", SAMPLE)
    images = sorted(p.name for p in folder.images_dir.iterdir())
    assert len(images) == 10 and all(OWN_NAME.match(name) for name in images)
    assert len(list(folder.videos_dir.iterdir())) == 10
    assert (SAMPLE / "assets/images/scene-01.png").exists(), "the sample itself is untouched"


async def test_made_from_makes_a_shipped_asset_stale(tmp_path: Path) -> None:
    folder = await create_project(tmp_path / "copy", SAMPLE)
    async with await Project.open(folder.root) as project:
        scene = await project.store.scene_at(3)
        assert project.why(scene)[AssetKind.IMAGE] == ["image prompt changed"]
        assert project.status(scene).image is AssetState.DIRTY


@pytest.fixture
def sample_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "sample"
    shutil.copytree(SAMPLE, copy)
    return copy


def edit_manifest(sample: Path, change: Callable[[dict[str, Any]], None]) -> None:
    manifest = sample / "storyboard.json"
    data = json.loads(manifest.read_text(encoding="utf-8"))
    change(data)
    manifest.write_text(json.dumps(data), encoding="utf-8")


async def test_a_shipped_file_outside_the_sample_is_refused(
    tmp_path: Path, sample_copy: Path
) -> None:
    (tmp_path / "secret.png").write_bytes(b"not yours")
    edit_manifest(sample_copy, lambda d: d["scenes"][0]["image"].update(file="../secret.png"))
    with pytest.raises(StoreError, match="scene 1, image.file: outside the import folder"):
        await create_project(tmp_path / "film", sample_copy)
    assert not (tmp_path / "film").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".film.creating-")]


async def test_a_missing_shipped_file_leaves_nothing_behind(
    tmp_path: Path, sample_copy: Path
) -> None:
    (sample_copy / "assets/videos/scene-04.mp4").unlink()
    with pytest.raises(StoreError, match="does not exist"):
        await create_project(tmp_path / "film", sample_copy)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sample"]


async def test_made_from_with_an_unknown_key_is_refused(tmp_path: Path, sample_copy: Path) -> None:
    edit_manifest(
        sample_copy, lambda d: d["scenes"][0]["image"].update(made_from={"colour": "red"})
    )
    with pytest.raises(StoreError, match="scene 1: made_from names unknown inputs"):
        await create_project(tmp_path / "film", sample_copy)


async def test_config_workflows_and_audio_come_along(tmp_path: Path, sample_copy: Path) -> None:
    (sample_copy / "storyboard.toml").write_text('backend = "draft"\n', encoding="utf-8")
    (sample_copy / "workflows").mkdir()
    (sample_copy / "workflows/image.json").write_text("{}", encoding="utf-8")
    (sample_copy / "audio").mkdir()
    (sample_copy / "audio/one.wav").write_bytes(b"RIFF")
    edit_manifest(sample_copy, lambda d: d["scenes"][0].update(audio_file="audio/one.wav"))
    notes: list[str] = []
    folder = await create_project(tmp_path / "film", sample_copy, notes)
    assert folder.config_path.read_text(encoding="utf-8") == 'backend = "draft"\n'
    assert (folder.workflows_dir / "image.json").exists()
    async with await Project.open(folder.root) as project:
        scene = await project.store.scene_at(1)
        assert scene.audio_file is not None
        assert re.fullmatch(r"assets/audio/scene-0001-[0-9a-f]{8}\.wav", scene.audio_file)
        assert scene.audio_hash == hashlib.sha256(b"RIFF").hexdigest()
    assert (folder.root / scene.audio_file).read_bytes() == b"RIFF"
    # Four bytes are no narration: the file comes along, the import's length stays.
    assert len(notes) == 1 and "scene 1: audio/one.wav cannot be decoded" in notes[0]


async def test_new_refuses_a_non_empty_folder(tmp_path: Path) -> None:
    target = tmp_path / "busy"
    target.mkdir()
    (target / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(StoreError, match="not empty"):
        await create_project(target, SAMPLE)
    assert [p.name for p in target.iterdir()] == ["notes.txt"]


def test_load_source_explains_a_missing_source(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no such storyboard file or sample folder"):
        load_source(tmp_path / "nothing.json")


def test_validation_errors_are_one_line_and_capped(
    tmp_path: Path, write_json: Callable[..., Path]
) -> None:
    data = storyboard_json(6)
    for scene in data["scenes"]:
        scene["camera"] = "spin"
    with pytest.raises(StoreError) as caught:
        load_source(write_json(data))
    message = str(caught.value)
    assert "\n" not in message
    assert "scene 1, camera" in message and "(and 3 more)" in message
