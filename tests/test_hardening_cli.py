"""The hardening fixes as a user meets them: the real `storyboard` command, exit codes, one line."""

from __future__ import annotations

import json
import math
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import storyboard_json

STORYBOARD = [sys.executable, "-m", "tui"]
pytestmark = pytest.mark.slow


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*STORYBOARD, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "160"},
    )


def one_line_error(result: subprocess.CompletedProcess[str], needle: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert needle in lines[0], lines[0]


def scene_rows(project: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(project / "storyboard.db") as db:
        return db.execute("SELECT * FROM scenes ORDER BY id").fetchall()


def test_new_refuses_an_audio_file_outside_the_import_folder(tmp_path: Path) -> None:
    """Issue 10 item 2: exit 2 and "scene 3, audio_file: outside the import folder"."""
    data = storyboard_json(4)
    data["scenes"][2]["audio_file"] = "/etc/passwd"
    source = tmp_path / "story.json"
    source.write_text(json.dumps(data), encoding="utf-8")
    result = run("new", tmp_path / "film", "--from", source)
    one_line_error(result, "scene 3, audio_file: outside the import folder")
    assert not (tmp_path / "film").exists()


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ('{"name": "x", "scenes": ' + "[" * 100_000, "nested too deeply"),
        ("INFINITY", "scene 2, audio_duration: must be a finite number"),
    ],
    ids=["nested", "infinity"],
)
def test_new_refuses_hostile_json_in_one_line(tmp_path: Path, body: str, needle: str) -> None:
    """Issue 14: deep nesting and `audio_duration: Infinity` get one line, no traceback."""
    if body == "INFINITY":
        data = storyboard_json(3)
        data["scenes"][1]["audio_duration"] = 12345.678  # a marker, replaced below
        body = json.dumps(data).replace("12345.678", "Infinity")
    source = tmp_path / "story.json"
    source.write_text(body, encoding="utf-8")
    one_line_error(run("new", tmp_path / "film", "--from", source), needle)


@pytest.mark.parametrize(
    ("assignment", "needle"),
    [
        ("audio_duration=1e9", "audio_duration must be over 0 and at most 600 seconds"),
        ("audio_duration=4800", "audio_duration must be over 0 and at most 600 seconds"),
        ("audio_duration=1_000", "audio_duration must be a number"),
        ("seed=١٢", "seed must be a whole number"),
    ],
)
def test_set_refuses_out_of_range_and_non_ascii_numbers(
    project_dir: Path, assignment: str, needle: str
) -> None:
    """Issue 10 item 8 / Issue 14: exit 2, one line, and the project is unchanged."""
    before = scene_rows(project_dir)
    one_line_error(run("set", project_dir, "2", assignment), needle)
    assert scene_rows(project_dir) == before


def test_set_motion_minus_zero_is_stored_and_shown_as_zero(project_dir: Path) -> None:
    """Issue 14: `motion=-0` is saved as 0 and reads "0.00", never "-0.00"."""
    made = run("regen", project_dir, "--include-missing", "--scene", "2")
    assert made.returncode == 0, made.stderr
    result = run("set", project_dir, "2", "motion=-0")
    assert result.returncode == 0, result.stderr
    assert "video: motion: 0.20 → 0.00" in result.stdout
    with sqlite3.connect(project_dir / "storyboard.db") as db:
        (motion,) = db.execute("SELECT motion FROM scenes WHERE position = 2").fetchone()
    assert motion == 0.0 and math.copysign(1.0, motion) == 1.0
    assert "-0" not in result.stdout


def test_an_emptied_image_prompt_is_none_and_regen_makes_nothing(project_dir: Path) -> None:
    """Issue 12 item 18: `set 3 image_prompt=` makes the image `none`; regen does not
    draw a "(no prompt)" card, and the old file stays."""
    made = run("regen", project_dir, "--images", "--include-missing", "--scene", "3")
    assert made.returncode == 0, made.stderr
    result = run("set", project_dir, "3", "image_prompt=")
    assert result.returncode == 0, result.stderr
    assert "image none" in result.stdout
    status = json.loads(run("status", project_dir, "--json").stdout)["scenes"][2]
    assert status["image"] == "none" and status["image_file"] is not None
    still = project_dir / status["image_file"]
    before = still.read_bytes()
    again = run("regen", project_dir, "--images", "--scene", "3")
    assert again.returncode == 2, (again.stdout, again.stderr)
    assert "no image prompt" in again.stderr
    assert still.read_bytes() == before


HOSTILE = (
    "osc52 \x1b]52;c;aGVsbG8=\x1b\\ clear \x1b[2J title \x1b]0;pwned\x07 "
    "csi8 \x9b31m bidi \u202eevil\u202c zw a\u200bb"
)
RAW = ("\x1b", "\x07", "\x9b", "\u202e", "\u200b")


def test_escape_codes_never_reach_the_terminal_from_any_command(tmp_path: Path) -> None:
    """Issue 10 item 3: every CLI output shows control, bidi and zero-width characters."""
    data = storyboard_json(2, name=f"Film {HOSTILE}")
    data["scenes"][0]["narration"] = f"Narration {HOSTILE}"
    data["scenes"][0]["image_prompt"] = f"Prompt {HOSTILE}"
    source = tmp_path / "story.json"
    source.write_text(json.dumps(data), encoding="utf-8")
    project = tmp_path / "film"
    outputs = [run("new", project, "--from", source)]
    outputs.append(run("set", project, "1", f"video_prompt=changed {HOSTILE}"))
    outputs += [
        run("status", project),
        run("status", project, "--json"),
        run("regen", project, "--dry-run", "--include-missing"),
        run("set", project, "1", f"camera={HOSTILE}"),
        run("runner", project, "status"),
    ]
    for result in outputs:
        for stream in (result.stdout, result.stderr):
            leaked = [char for char in RAW if char in stream]
            assert not leaked, (result.args, leaked, stream[:300])
    table = outputs[2].stdout
    assert "␛]52;c;" in table and "⟨U+202E⟩" in table
    payload = json.loads(outputs[3].stdout)
    assert payload["project"]["name"] == f"Film {HOSTILE}"  # JSON keeps the text, escaped
    assert payload["scenes"][0]["narration"] == f"Narration {HOSTILE}"
    assert outputs[5].returncode == 2 and "bad camera" in outputs[5].stderr


def test_a_closed_pipe_is_not_a_traceback(project_dir: Path) -> None:
    """Issue 10 item 14: `set … | head -1` ends quietly, with no BrokenPipeError traceback."""
    for args in (["set", project_dir, "1", "motion=0.9"], ["status", project_dir]):
        proc = subprocess.Popen(
            [*STORYBOARD, *map(str, args)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "NO_COLOR": "1", "COLUMNS": "80"},
        )
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()  # the reader is gone before a line is written, as with `head`
        err = proc.stderr.read().decode()
        proc.wait(timeout=60)
        assert "Traceback" not in err and "BrokenPipe" not in err, err
