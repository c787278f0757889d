"""Issue 11: the project as a user installs it: a wheel in a fresh venv, not the checkout.

The bundled themes must be inside the wheel (the build maps the top-level
themes/ folder into the package), so the TUI starts with its own theme and
no "fallback" warning.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.conftest import REPO, storyboard_json

pytestmark = pytest.mark.slow

OPEN_HEADLESS = """
import asyncio, sys
import tui
from tui.ui.app import StoryboardApp
from tui.config import UserSettings

async def main():
    settings = UserSettings.model_construct(
        theme="storyboard-dark", image_renderer="halfblock", save_delay=0.5,
        keymap={}, comfyui_servers=[], runner_idle_exit=30.0)
    app = StoryboardApp(sys.argv[1], settings=settings)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause(0.5)
        print("theme", app.theme)
        print("warnings", app.warnings)
        print("package", tui.__file__)

asyncio.run(main())
"""


def test_the_wheel_installs_and_opens_with_its_own_theme(tmp_path: Path) -> None:
    """Build the wheel, install it (not editable), make a project, open the TUI headless."""
    dist = tmp_path / "dist"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(REPO)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    [wheel] = dist.glob("storyboard_tui-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    # The dependencies come from this environment's site-packages (read-only, no
    # .pth processing, so its editable install of the checkout is not seen).
    ours = sysconfig.get_paths()["purelib"]
    theirs = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(theirs, "dependencies.pth").write_text(ours + "\n", encoding="utf-8")
    install = subprocess.run(
        [python, "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stderr
    env = {**os.environ, "HOME": str(tmp_path / "home"), "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    env.pop("PYTHONPATH", None)
    storyboard = venv / "bin" / "storyboard"
    version = subprocess.run(
        [storyboard, "--version"], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60
    )
    assert version.returncode == 0 and version.stdout.startswith("storyboard 0."), version
    source = tmp_path / "story.json"
    source.write_text(json.dumps(storyboard_json(3)), encoding="utf-8")
    created = subprocess.run(
        [storyboard, "new", tmp_path / "film", "--from", source],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert created.returncode == 0, created.stderr
    opened = subprocess.run(
        [python, "-c", OPEN_HEADLESS, tmp_path / "film"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert opened.returncode == 0, opened.stderr
    lines = dict(line.split(" ", 1) for line in opened.stdout.splitlines())
    assert lines["theme"] == "storyboard-dark"
    assert lines["warnings"] == "[]"
    assert str(venv) in lines["package"]  # the wheel, not the checkout
