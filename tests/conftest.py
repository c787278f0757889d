"""Shared builders: real project folders with real SQLite databases."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tui.folder import ProjectFolder
from tui.store.importer import create_project

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_projects" / "lighthouse"
FIXTURES = Path(__file__).resolve().parent / "fixtures"

CAMERAS = ["static", "pan_left", "pan_right", "zoom_in", "zoom_out", "roll_cw"]


def storyboard_json(count: int, *, name: str = "Test film", **extra: Any) -> dict[str, Any]:
    """An import file with `count` varied scenes."""
    scenes = [
        {
            "narration": f"Sentence number {i} of the story.",
            "audio_duration": 2.0 + (i % 5) * 0.5,
            "image_prompt": f"a scene {i}, moody light",
            "negative_prompt": "blurry",
            "video_prompt": f"slow motion in scene {i}",
            "camera": CAMERAS[i % len(CAMERAS)],
            "motion": round((i % 10) / 10, 2),
            "seed": 100 + i,
        }
        for i in range(1, count + 1)
    ]
    return {"name": name, "fps": 8, "width": 96, "height": 64, "scenes": scenes, **extra}


@pytest.fixture
def write_json(tmp_path: Path) -> Callable[[dict[str, Any]], Path]:
    def write(data: dict[str, Any], name: str = "story.json") -> Path:
        path = tmp_path / name
        path.write_text(json.dumps(data), encoding="utf-8")
        return path

    return write


@pytest.fixture
async def project_dir(tmp_path: Path) -> Path:
    """A fresh 5-scene project with no assets yet."""
    source = tmp_path / "source.json"
    source.write_text(json.dumps(storyboard_json(5)), encoding="utf-8")
    folder = await create_project(tmp_path / "film", source)
    return folder.root


@pytest.fixture
async def sample_dir(tmp_path: Path) -> Path:
    """A working copy of the shipped lighthouse sample."""
    folder = await create_project(tmp_path / "lighthouse", SAMPLE)
    return folder.root


def folder_of(path: Path) -> ProjectFolder:
    return ProjectFolder(path)
