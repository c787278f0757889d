"""Issue 13 §2: narration audio sets each scene's length: measured at import, copied in and
measured by `set audio_file=`, measured again when the file changes on disk.

Real wav files, real projects and the real `storyboard` command.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import storyboard_json
from tests.media_helpers import write_wav
from tests.processes import run, status_json


def ok(*args: str | Path) -> subprocess.CompletedProcess[str]:
    result = run(*args)
    assert result.returncode == 0, (result.stdout, result.stderr)
    return result


def one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def scene_row(project: Path, position: int) -> dict[str, Any]:
    with sqlite3.connect(project / "storyboard.db") as db:
        db.row_factory = sqlite3.Row
        row = db.execute("SELECT * FROM scenes WHERE position = ?", (position,)).fetchone()
    return dict(row)


def db_bytes(project: Path) -> bytes:
    with sqlite3.connect(project / "storyboard.db") as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return (project / "storyboard.db").read_bytes()


@pytest.fixture
def story(tmp_path: Path) -> Path:
    """An import folder: four scenes, three with narration files of known lengths."""
    folder = tmp_path / "import"
    (folder / "audio").mkdir(parents=True)
    write_wav(folder / "audio" / "01.wav", 2.5)  # the file says 2.0 s: more than 0.1 s off
    write_wav(folder / "audio" / "02.wav", 2.55)  # the file says 2.5 s: close enough
    (folder / "audio" / "03.wav").write_bytes(b"RIFF this is no audio")
    data = storyboard_json(4)
    for index, name in enumerate(("01.wav", "02.wav", "03.wav")):
        data["scenes"][index]["audio_file"] = f"audio/{name}"
    data["scenes"][0]["audio_duration"] = 2.0
    data["scenes"][1]["audio_duration"] = 2.5
    data["scenes"][2]["audio_duration"] = 3.0
    (folder / "story.json").write_text(json.dumps(data), encoding="utf-8")
    return folder


def test_import_measures_narration_and_says_where_the_file_was_wrong(
    tmp_path: Path, story: Path
) -> None:
    """Issue 13 §2: the measured length wins over audio_duration; `new` says so once per scene
    that is more than 0.1 s off, and once per file that cannot be decoded (which keeps
    the import's number). Each file comes in under the app's own name, with its hash."""
    project = tmp_path / "film"
    result = ok("new", project, "--from", story / "story.json")
    lines = result.stdout.strip().splitlines()
    assert lines[0] == ("scene 1: audio/01.wav lasts 2.50 s, the import says 2 s; using 2.50 s")
    assert lines[1].startswith("scene 3: audio/03.wav cannot be decoded as audio")
    assert lines[1].endswith("keeping audio_duration 3 s")
    assert lines[2].startswith("Created 'Test film' with 4 scenes")
    assert len(lines) == 3
    first, second, third = (scene_row(project, p) for p in (1, 2, 3))
    assert (first["audio_duration"], second["audio_duration"], third["audio_duration"]) == (
        2.5,
        2.55,
        3.0,
    )
    for row, name in ((first, "01.wav"), (third, "03.wav")):
        assert row["audio_file"].startswith(f"assets/audio/scene-000{row['position']}-")
        copied = project / row["audio_file"]
        original = (story / "audio" / name).read_bytes()
        assert copied.read_bytes() == original
        assert row["audio_hash"] == hashlib.sha256(original).hexdigest()
    assert scene_row(project, 4)["audio_file"] is None


def test_a_file_named_as_something_else_than_audio_is_refused(tmp_path: Path, story: Path) -> None:
    """Issue 13 §2: wav, mp3, m4a, ogg or flac; anything else names the scene and field."""
    data = json.loads((story / "story.json").read_text(encoding="utf-8"))
    (story / "audio" / "04.txt").write_text("the script", encoding="utf-8")
    data["scenes"][3]["audio_file"] = "audio/04.txt"
    (story / "story.json").write_text(json.dumps(data), encoding="utf-8")
    one_line_error(
        run("new", tmp_path / "film", "--from", story / "story.json"),
        "scene 4, audio_file",
        "not a narration audio file",
    )
    assert not (tmp_path / "film").exists()


@pytest.fixture
def rendered(tmp_path: Path, story: Path) -> Path:
    """The imported project with scene 4 (no audio) rendered clean."""
    project = tmp_path / "film"
    ok("new", project, "--from", story / "story.json")
    ok("regen", project, "--include-missing", "--scene", "4")
    return project


@pytest.mark.slow
def test_set_audio_file_copies_it_in_and_the_video_turns_dirty(
    rendered: Path, tmp_path: Path
) -> None:
    """Issue 13 §2: `set DIR N audio_file=PATH` copies the file in, measures it and sets the
    length, so the video turns dirty with "narration now 4.2 s, was 3.1 s"; a second file
    replaces the first, which is deleted."""
    assert status_json(rendered)["scenes"][3]["video"] == "clean"
    narration = write_wav(tmp_path / "take-1.wav", 4.2)
    result = ok("set", rendered, "4", f"audio_file={narration}")
    assert "scene 4 saved: image clean, video dirty" in result.stdout
    assert "video: narration now 4.2 s, was 4.0 s" in result.stdout
    first = scene_row(rendered, 4)
    assert first["audio_duration"] == 4.2
    assert first["audio_file"].startswith("assets/audio/scene-0004-")
    assert (rendered / first["audio_file"]).read_bytes() == narration.read_bytes()
    assert narration.exists()  # copied, not moved

    again = ok("set", rendered, "4", f"audio_file={write_wav(tmp_path / 'take-2.wav', 4.0)}")
    assert "video clean" in again.stdout  # back to the length the clip was made for
    second = scene_row(rendered, 4)
    assert second["audio_file"] != first["audio_file"]
    assert not (rendered / first["audio_file"]).exists()


@pytest.mark.parametrize(
    ("make", "needles"),
    [
        (lambda d: d / "nothing.wav", ["scene 2, audio_file", "no such file"]),
        (
            lambda d: _write(d / "broken.wav", b"RIFF not really"),
            ["scene 2, audio_file", "broken.wav", "cannot be decoded as audio"],
        ),
        (lambda d: _write(d / "notes.txt", b"words"), ["not a narration audio file"]),
        # Longer than a scene may last (the limit is a setting; 600 s by default).
        (
            lambda d: write_wav(d / "long.wav", 601.0, rate=100),
            ["scene 2, audio_file", "601", "at most 600 seconds"],
        ),
    ],
)
def test_set_audio_file_refuses_bad_files_in_one_line_and_changes_nothing(
    tmp_path: Path, story: Path, make: Any, needles: list[str]
) -> None:
    """Issue 13 §2: a file that cannot be decoded gets one line naming it, and the scene
    keeps its old file and length."""
    project = tmp_path / "film"
    ok("new", project, "--from", story / "story.json")
    before = scene_row(project, 2)
    path = make(tmp_path)
    one_line_error(run("set", project, "2", f"audio_file={path}"), *needles)
    assert scene_row(project, 2) == before
    assert len(list((project / "assets" / "audio").iterdir())) == 3


def test_audio_file_and_audio_duration_together_are_refused(tmp_path: Path, story: Path) -> None:
    """Issue 13 §2: the file sets the length; giving both is ambiguous."""
    project = tmp_path / "film"
    ok("new", project, "--from", story / "story.json")
    narration = write_wav(tmp_path / "n.wav", 1.0)
    one_line_error(
        run("set", project, "2", f"audio_file={narration}", "audio_duration=3"),
        "audio_file sets audio_duration",
    )


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.slow
def test_a_narration_file_changed_on_disk_is_measured_again(rendered: Path, tmp_path: Path) -> None:
    """Issue 13 §2: replacing a file in assets/audio (same name) is found at the next open:
    `status` shows the cascade without writing; a command that writes stores it."""
    narration = write_wav(tmp_path / "n.wav", 4.0)  # the length the clip was made for
    ok("set", rendered, "4", f"audio_file={narration}")
    assert status_json(rendered)["scenes"][3]["video"] == "clean"
    inside = rendered / scene_row(rendered, 4)["audio_file"]
    write_wav(tmp_path / "longer.wav", 5.5)
    shutil.copyfile(tmp_path / "longer.wav", inside)  # overwritten in place

    before = db_bytes(rendered)
    scene = status_json(rendered)["scenes"][3]
    assert scene["video"] == "dirty"
    assert scene["why"]["video"] == ["narration now 5.5 s, was 4.0 s"]
    assert db_bytes(rendered) == before  # status never writes
    assert scene_row(rendered, 4)["audio_duration"] == 4.0

    ok("regen", rendered, "--dry-run")
    assert scene_row(rendered, 4)["audio_duration"] == 4.0  # nor does a dry run
    ok("set", rendered, "4", "motion=0.5")
    row = scene_row(rendered, 4)
    assert row["audio_duration"] == 5.5
    assert row["audio_hash"] == hashlib.sha256(inside.read_bytes()).hexdigest()


def test_a_narration_file_that_turns_undecodable_keeps_its_length(
    tmp_path: Path, story: Path
) -> None:
    """Issue 13 §2: one warning line naming the file; the scene keeps its old length."""
    project = tmp_path / "film"
    ok("new", project, "--from", story / "story.json")
    inside = project / scene_row(project, 1)["audio_file"]
    inside.write_bytes(b"RIFF garbage now")
    result = run("status", project)
    assert result.returncode == 0
    warnings = result.stderr.strip().splitlines()
    assert len(warnings) == 1
    assert warnings[0].startswith("storyboard: warning: ")
    assert inside.name in warnings[0] and "cannot be decoded" in warnings[0]
    assert "scene 1 keeps its length" in warnings[0]
    ok("set", project, "1", "motion=0.5")
    row = scene_row(project, 1)
    assert row["audio_duration"] == 2.5
    assert row["audio_hash"] == hashlib.sha256(b"RIFF garbage now").hexdigest()
