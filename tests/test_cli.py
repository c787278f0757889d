"""The `storyboard` command, run as a real process on real project folders."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SAMPLE, storyboard_json
from tests.processes import (
    assert_everything_clean_and_tidy,
    make_project,
    run,
    status_json,
)


def db_snapshot(project: Path, *, immutable: bool = False) -> list[tuple[Any, ...]]:
    """The scene rows; `immutable` reads a folder where SQLite cannot make its -shm file."""
    uri = f"file:{project / 'storyboard.db'}" + ("?immutable=1" if immutable else "")
    with sqlite3.connect(uri, uri=True) as db:
        return db.execute("SELECT * FROM scenes ORDER BY id").fetchall()


def assert_one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


# -- new / status / set -------------------------------------------------------


def test_status_json_of_a_fresh_sample_shows_its_dirty_and_missing_scenes(tmp_path: Path) -> None:
    project = tmp_path / "lighthouse"
    assert run("new", project, "--from", SAMPLE).returncode == 0
    payload = status_json(project)
    assert payload["project"]["name"] == "The Lighthouse Keeper"
    scenes = payload["scenes"]
    assert len(scenes) == 12
    states = {s["position"]: (s["image"], s["video"]) for s in scenes}
    assert states[3] == ("dirty", "dirty")
    assert states[6] == ("clean", "dirty")
    assert states[9] == ("clean", "dirty")
    assert states[11] == states[12] == ("missing", "missing")
    clean = [p for p, s in states.items() if s == ("clean", "clean")]
    assert len(clean) == 7
    assert scenes[5]["why"]["video"] == ["camera: Static → Pan left"]
    assert scenes[0]["image_file"].startswith("assets/images/scene-0001-")
    assert not Path(scenes[0]["image_file"]).is_absolute()


def test_the_human_status_is_a_table(tmp_path: Path) -> None:
    project = tmp_path / "lighthouse"
    run("new", project, "--from", SAMPLE)
    result = run("status", project)
    assert result.returncode == 0
    assert "The Lighthouse Keeper" in result.stdout
    assert "1 dirty images, 2 missing · 3 dirty videos, 2 missing" in result.stdout


def test_set_applies_the_staleness_rules_and_prints_the_new_states(project_dir: Path) -> None:
    run("regen", project_dir, "--include-missing")
    result = run("set", project_dir, "2", "camera=pan_left", "motion=0.75")
    assert result.returncode == 0, result.stderr
    assert "scene 2 saved: image clean, video dirty" in result.stdout
    assert "video: motion: 0.20 → 0.75" in result.stdout
    result = run("set", project_dir, "2", "image_prompt=a new image")
    assert "image dirty, video dirty" in result.stdout
    again = run("set", project_dir, "2", "image_prompt=a new image")
    assert "scene 2 unchanged" in again.stdout


def test_new_refuses_to_overwrite_a_project(tmp_path: Path) -> None:
    project = tmp_path / "film"
    assert run("new", project, "--from", SAMPLE).returncode == 0
    before = db_snapshot(project)
    assert_one_line_error(run("new", project, "--from", SAMPLE), "already exists")
    assert db_snapshot(project) == before


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["set", "{missing}", "1", "motion=0.5"], ["no such project"]),
        (["set", "{project}", "9", "motion=0.5"], ["scene 9 is out of range"]),
        (["set", "{project}", "1", "colour=red"], ["unknown field", "camera"]),
        (["set", "{project}", "1", "camera=spin"], ["static", "pan_left", "roll_ccw"]),
        (["set", "{project}", "1", "motion=1.5"], ["motion", "0", "1"]),
        (["set", "{project}", "1", "seed=many"], ["seed", "number"]),
        (["set", "{project}", "1", "audio_duration=long"], ["audio_duration", "number"]),
        (["set", "{project}", "1", "motion"], ["FIELD=VALUE"]),
        (["status", "{project}/nested"], ["no such project"]),
        (["regen", "{project}", "--scene", "99"], ["out of range"]),
        (["regen", "{project}", "--scene", "1", "--videos"], ["without an image"]),
    ],
)
def test_bad_input_is_one_line_exit_2_and_changes_nothing(
    project_dir: Path, args: list[str], needles: list[str]
) -> None:
    before = db_snapshot(project_dir)
    filled = [a.format(project=project_dir, missing=project_dir.parent / "nowhere") for a in args]
    assert_one_line_error(run(*filled), *needles)
    assert db_snapshot(project_dir) == before


@pytest.mark.parametrize(
    ("mutate", "needles"),
    [
        (lambda d: d["scenes"][2].update(camera="spin"), ["scene 3", "camera"]),
        (lambda d: d["scenes"][0].update(motion=2), ["scene 1", "motion"]),
        (lambda d: d["scenes"][1].pop("narration"), ["scene 2", "narration"]),
        (lambda d: d["scenes"][1].update(audio_duration="x"), ["scene 2", "audio_duration"]),
        (lambda d: d.update(scenes=[]), ["scenes"]),
        (lambda d: d.update(fps="fast"), ["fps"]),
    ],
)
def test_a_bad_import_file_names_the_scene_and_field(
    tmp_path: Path,
    write_json: Callable[[dict[str, Any]], Path],
    mutate: Callable[[dict[str, Any]], None],
    needles: list[str],
) -> None:
    data = storyboard_json(4)
    mutate(data)
    source = write_json(data)
    result = run("new", tmp_path / "film", "--from", source)
    assert_one_line_error(result, *needles)
    assert not (tmp_path / "film").exists()


def test_an_import_file_that_is_not_json_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "story.json"
    source.write_text("{not json", encoding="utf-8")
    assert_one_line_error(run("new", tmp_path / "film", "--from", source), "story.json")
    assert not (tmp_path / "film").exists()


def test_a_corrupt_database_is_named_in_one_line(project_dir: Path) -> None:
    (project_dir / "storyboard.db").write_bytes(b"this is not sqlite" * 100)
    for name in ("storyboard.db-wal", "storyboard.db-shm"):
        (project_dir / name).unlink(missing_ok=True)
    assert_one_line_error(run("status", project_dir), "storyboard.db")


def test_a_newer_schema_is_refused(project_dir: Path) -> None:
    with sqlite3.connect(project_dir / "storyboard.db") as db:
        db.execute("PRAGMA user_version = 99")
    assert_one_line_error(run("status", project_dir), "storyboard.db", "newer")


@pytest.fixture
def read_only(project_dir: Path) -> Any:
    """`chattr +i` makes the folder read-only even for root, which runs CI here."""
    if shutil.which("chattr") is None:
        pytest.skip("chattr is not available")
    with sqlite3.connect(project_dir / "storyboard.db") as db:  # checkpoint: no -wal, no -shm
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    made = subprocess.run(["chattr", "+i", str(project_dir)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot make a read-only folder here: {made.stderr.strip()}")
    yield project_dir
    subprocess.run(["chattr", "-i", str(project_dir)], check=True)


def test_a_read_only_folder_is_named_in_one_line(read_only: Path) -> None:
    before = db_snapshot(read_only, immutable=True)
    assert_one_line_error(run("set", read_only, "1", "motion=0.9"), "storyboard.db")
    assert db_snapshot(read_only, immutable=True) == before


# -- concurrency ----------------------------------------------------------------


def test_two_processes_editing_one_project_lose_nothing(project_dir: Path) -> None:
    """Guards the rule that every edit is its own transaction: no lost updates."""
    script = (
        "import asyncio, sys\n"
        "from tui.engine.project import Project\n"
        "async def main(field, count):\n"
        "    async with await Project.open(sys.argv[1]) as project:\n"
        "        scenes = await project.scenes()\n"
        "        for i in range(count):\n"
        "            for scene in scenes:\n"
        "                await project.edit(scene.id, {field: f'{field} {i}'})\n"
        "asyncio.run(main(sys.argv[2], int(sys.argv[3])))\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(project_dir), field, "40"])
        for field in ("image_prompt", "video_prompt")
    ]
    for proc in procs:
        assert proc.wait(timeout=120) == 0
    scenes = status_json(project_dir)["scenes"]
    with sqlite3.connect(project_dir / "storyboard.db") as db:
        rows = db.execute("SELECT image_prompt, video_prompt FROM scenes").fetchall()
    assert len(scenes) == 5
    assert set(rows) == {("image_prompt 39", "video_prompt 39")}


# -- regen ----------------------------------------------------------------------


def test_regen_dry_run_lists_what_would_run_and_why(tmp_path: Path) -> None:
    project = tmp_path / "lighthouse"
    run("new", project, "--from", SAMPLE)
    result = run("regen", project, "--dry-run", "--include-missing")
    assert result.returncode == 0
    assert "would regenerate scene 6 video: camera: Static → Pan left" in result.stdout
    assert "would regenerate scene 11 image: no image yet" in result.stdout
    assert "8 job(s) would run" in result.stdout
    assert status_json(project)["scenes"][2]["image"] == "dirty"


def test_regen_makes_the_demo_project_clean(tmp_path: Path) -> None:
    project = tmp_path / "lighthouse"
    run("new", project, "--from", SAMPLE)
    result = run("regen", project, "--include-missing", timeout=300)
    assert result.returncode == 0, result.stderr
    assert "8 succeeded, 0 failed, 0 cancelled" in result.stdout
    assert_everything_clean_and_tidy(project)
    again = run("regen", project)
    assert again.returncode == 0 and "nothing to do" in again.stdout


def test_regen_images_only_and_one_scene(tmp_path: Path) -> None:
    project = make_project(tmp_path, 3)
    result = run("regen", project, "--images", "--scene", "2")
    assert result.returncode == 0, result.stderr
    states = [(s["image"], s["video"]) for s in status_json(project)["scenes"]]
    assert states == [("missing", "missing"), ("clean", "missing"), ("missing", "missing")]


def test_failures_give_exit_1_with_a_summary(tmp_path: Path) -> None:
    project = make_project(tmp_path, 2)
    asyncio.run(_break_the_still(project))
    run("regen", project, "--images", "--include-missing")
    asyncio.run(_break_the_still(project))
    result = run("regen", project, "--videos", "--include-missing")
    assert result.returncode == 1
    assert "failures:" in result.stdout and "scene 1 video: draft renderer" in result.stdout


async def _break_the_still(project: Path) -> None:
    """Overwrite scene 1's still with junk, so the animatic cannot decode it."""
    from tui.engine.project import Project

    async with await Project.open(project) as opened:
        scene = await opened.store.scene_at(1)
        if scene.image is not None:
            opened.asset_path(scene.image.file).write_bytes(b"not a png")


def test_status_puts_each_reason_whole_on_its_own_line(tmp_path: Path) -> None:
    """Issue 12 item 19: at 80 columns a reason is not squeezed into a narrow column; it
    reads whole on a line of its own under its scene."""
    project = tmp_path / "lighthouse"
    run("new", project, "--from", SAMPLE)
    result = subprocess.run(
        [sys.executable, "-m", "tui", "status", str(project)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "80"},
    )
    lines = result.stdout.splitlines()
    scene_six = next(i for i, line in enumerate(lines) if line.lstrip().startswith("6 "))
    assert lines[scene_six + 1].strip() == "video: camera: Static → Pan left"
    assert all(len(line) <= 80 for line in lines[1:-3])


def test_the_top_level_help_says_how_to_open_the_editor_and_every_option_is_explained() -> None:
    """Issue 12 item 19: `--help` names `storyboard DIR`; no option of regen or doctor is bare."""
    top = run("--help")
    assert top.returncode == 0
    assert "usage: storyboard regen" in run("regen", "--help").stdout
    assert "usage: storyboard DIR" in top.stdout and "opens the project" in top.stdout
    for command in ("regen", "doctor", "export"):
        helped = run(command, "--help")
        assert helped.returncode == 0
        lines = helped.stdout.splitlines()
        for index, line in enumerate(lines):
            if not line.startswith("  -"):
                continue
            same_line = re.match(r"\s+-\S*(?: [A-Z_{},.]+)?(?:, -\S+(?: [A-Z_{},.]+)?)*  +\S", line)
            next_line = index + 1 < len(lines) and lines[index + 1].startswith(" " * 10)
            assert same_line or next_line, f"{command}: {line.strip()!r} has no help text"
