"""UI test fixtures: real projects in temporary folders, and nothing from the user's home."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from tests.inprocess_runner import OPEN_LAUNCHERS
from tests.ui.helpers import build_project

DIRTY_EDITS = {
    2: {"image_prompt": "a lighthouse in a storm, lightning"},
    3: {"camera": "zoom_out"},
    4: {"video_prompt": "the waves slow down"},
}
"""Scene 2: image (and so video) dirty; scenes 3 and 4: video dirty only."""


def pytest_configure(config: pytest.Config) -> None:
    # textual-image 0.12 calls a Pillow API that Pillow 12 deprecates; not ours to fix.
    config.addinivalue_line(
        "filterwarnings", "ignore:Image.Image.getdata is deprecated:DeprecationWarning"
    )


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point HOME and XDG_CONFIG_HOME at an empty folder and drop STORYBOARD_* variables.

    The app reads the user's config and theme folders when a test forgets to
    inject settings; this makes such a slip harmless.
    """
    home = tmp_path / "home"
    (home / ".config").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    for name in list(os.environ):
        if name.startswith("STORYBOARD_"):
            monkeypatch.delenv(name)
    yield home


@pytest.fixture(autouse=True)
async def stop_test_runners() -> AsyncIterator[None]:
    """Runners started in-process by a test end with it, as a detached one would go idle."""
    yield
    for launcher in list(OPEN_LAUNCHERS):
        await launcher.aclose()


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Projects built once per session; the engine renders their assets with InstantBackend."""
    root = tmp_path_factory.mktemp("templates")

    async def build() -> dict[str, Path]:
        return {
            "clean": await build_project(root / "clean", 5),
            "dirty": await build_project(root / "dirty", 5, edits=DIRTY_EDITS),
            "fresh": await build_project(root / "fresh", 5, assets=False),
        }

    return asyncio.run(build())


@pytest.fixture
def project(templates: dict[str, Path], tmp_path: Path) -> Callable[[str], Path]:
    """`project("clean" | "dirty" | "fresh")`: a private copy of a template project."""

    def copy(name: str) -> Path:
        target = tmp_path / f"project-{name}"
        shutil.copytree(templates[name], target, ignore=shutil.ignore_patterns(".storyboard"))
        return target

    return copy
