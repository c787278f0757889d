"""Issue 13 §3: the rough cut, made by the runner through the real `storyboard export`.

Real projects, real clips and narration, the real runner process; every film
is checked by decoding it. The bad inputs the issue lists each have a test.
"""

from __future__ import annotations

import hashlib
import json
import os
import pty
import shutil
import signal
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import pytest

from tests.conftest import SAMPLE, storyboard_json
from tests.media_helpers import write_clip, write_wav
from tests.processes import (
    make_project,
    read_until,
    run,
    runner_pid,
    start,
    status_json,
    wait_until,
)
from tests.processes import (
    small_disk as mounted_small_disk,
)
from tui.engine.runfiles import RunFiles

pytestmark = pytest.mark.slow


def ok(*args: str | Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    result = run(*args, timeout=timeout)
    assert result.returncode == 0, (result.stdout, result.stderr)
    return result


def one_line_error(result: subprocess.CompletedProcess[str], *needles: str, status: int = 2) -> str:
    assert result.returncode == status, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cut_row(project: Path) -> dict[str, Any] | None:
    with sqlite3.connect(project / "storyboard.db") as db:
        db.row_factory = sqlite3.Row
        row = db.execute("SELECT * FROM cut").fetchone()
    return dict(row) if row else None


def film(path: Path) -> dict[str, Any]:
    """What the film really holds, by decoding it."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        audio = container.streams.audio[0]
        frames = sum(1 for _ in container.decode(video))
        assert video.duration is not None and video.time_base is not None
        return {
            "seconds": float(video.duration * video.time_base),
            "video": video.codec_context.name,
            "audio": audio.codec_context.name,
            "size": (video.codec_context.width, video.codec_context.height),
            "fps": video.base_rate,  # held frames stretch the average; the grid is the rate
            "frames": frames,
        }


def temp_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".tmp-"))


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    """The lighthouse sample with every scene made clean."""
    project = tmp_path / "lighthouse"
    ok("new", project, "--from", SAMPLE)
    ok("regen", project, "--include-missing")
    return project


def test_export_writes_the_cut_and_knows_when_it_is_stale(sample: Path) -> None:
    """Issue 13 §3: `export` makes one MP4 (H.264 + AAC) at the project's size and fps from
    each scene for its narration's length; `status` says "cut: clean", the same export
    again is a no-op that says so, `--force` remakes it, and a changed clip makes it
    "cut: stale (scene 3 clip changed)" in the table and the JSON."""
    result = ok("export", sample)
    output = sample / "exports" / "the-lighthouse-keeper.mp4"
    assert result.stdout.startswith("exported exports/the-lighthouse-keeper.mp4 (video ")
    made = film(output)
    assert (made["video"], made["audio"], made["size"]) == ("h264", "aac", (832, 480))
    assert made["fps"] == 16
    durations = [
        s["audio_duration"] for s in json.loads((SAMPLE / "storyboard.json").read_text())["scenes"]
    ]
    assert made["seconds"] == pytest.approx(round(sum(durations) * 16) / 16, abs=1 / 16)
    row = cut_row(sample)
    assert row is not None and row["file"] == "exports/the-lighthouse-keeper.mp4"
    assert row["content_hash"] == sha256(output)
    assert "cut: clean (exports/the-lighthouse-keeper.mp4)" in ok("status", sample).stdout
    assert status_json(sample)["cut"] == {
        "state": "clean",
        "file": "exports/the-lighthouse-keeper.mp4",
        "why": [],
    }

    inode = output.stat().st_ino
    again = ok("export", sample)
    assert again.stdout.startswith("the cut is up to date: exports/the-lighthouse-keeper.mp4")
    assert output.stat().st_ino == inode

    ok("export", sample, "--force")
    assert output.stat().st_ino != inode
    assert cut_row(sample)["content_hash"] == sha256(output)  # type: ignore[index]

    ok("set", sample, "3", "camera=pan_left")
    ok("regen", sample)
    assert "cut: stale (scene 3 clip changed)" in ok("status", sample).stdout
    cut = status_json(sample)["cut"]
    assert cut["state"] == "stale" and cut["why"] == ["scene 3 clip changed"]


def test_export_with_subtitles_and_an_output_of_ones_own(sample: Path, tmp_path: Path) -> None:
    """Issue 13 §3: `-o FILE` puts the film elsewhere; `--subtitles` writes an .srt beside it
    from the narration text."""
    target = tmp_path / "deliver" / "final.mp4"
    target.parent.mkdir()
    ok("export", sample, "-o", target, "--subtitles")
    assert film(target)["size"] == (832, 480)
    srt = target.with_suffix(".srt").read_text(encoding="utf-8")
    assert srt.startswith("1\n00:00:00,000 --> ")
    assert "On the last rock before the open sea" in srt
    assert cut_row(sample)["file"] == str(target)  # type: ignore[index]
    assert status_json(sample)["cut"]["state"] == "clean"


# -- bad input --------------------------------------------------------------------------


@pytest.fixture
def small(tmp_path: Path) -> Path:
    """Four short scenes at 96×64, 8 fps, every still and clip made."""
    project = make_project(tmp_path, 4)
    ok("regen", project, "--include-missing")
    return project


def asset(project: Path, position: int, kind: str) -> Path:
    scene = status_json(project)["scenes"][position - 1]
    return project / scene[f"{kind}_file"]


def test_a_clip_of_another_size_and_fps_is_fitted_into_the_film(small: Path) -> None:
    """Issue 13, bad input: a clip at another size and frame rate than the project is fitted
    (re-encoded), and the film stays at the project's size and fps."""
    clip = asset(small, 2, "video")
    write_clip(clip.with_suffix(".new.mp4"), frames=6, fps=4, size=(64, 48)).replace(clip)
    result = ok("export", small)
    # the clip's own name, not the name of the link the export pinned it with
    assert f"video re-encoded: scene 2: {clip.name} is 64x48, the film 96x64" in result.stdout
    made = film(small / "exports" / "test-film.mp4")
    assert made["size"] == (96, 64) and made["fps"] == 8


def test_a_corrupt_or_deleted_clip_counts_as_missing(small: Path) -> None:
    """Issue 13, bad input (and issue 10 item 9): a clip that is garbage or gone is left out
    like a missing one: its still stands in, the export says so, and the film is made."""
    asset(small, 2, "video").write_bytes(b"\x00not a video at all" * 50)
    asset(small, 3, "video").unlink()
    assert status_json(small)["scenes"][2]["video"] == "missing"
    result = ok("export", small)
    assert "note: scene 2:" in result.stdout and "its still is used instead" in result.stdout
    inputs = json.loads(cut_row(small)["inputs"])  # type: ignore[index]
    visuals = [scene["visual"] for scene in inputs["scenes"]]
    assert visuals == ["clip", "still", "still", "clip"]
    assert status_json(small)["cut"]["state"] == "clean"  # until the clips change
    ok("regen", small, "--videos", "--include-missing", "--scene", "3")
    assert status_json(small)["cut"]["why"] == ["scene 3 now a clip, was a still"]


def test_narration_longer_than_the_clip_holds_its_last_frame(small: Path, tmp_path: Path) -> None:
    """Issue 13, bad input: an audio file longer than the clip sets the scene's length; the
    clip's last frame is held (copied clips: shown longer; encoded: repeated), so the film
    lasts as long as the narration."""
    narration = write_wav(tmp_path / "long.wav", 6.0)
    ok("set", small, "1", f"audio_file={narration}")
    durations = [s["audio_duration"] for s in storyboard_json(4)["scenes"]]
    durations[0] = 6.0
    ok("export", small)
    made = film(small / "exports" / "test-film.mp4")
    assert made["seconds"] == pytest.approx(sum(durations), abs=1 / 8)
    assert status_json(small)["cut"]["state"] == "clean"


def test_a_project_with_no_scenes_has_nothing_to_export(small: Path) -> None:
    """Issue 13, bad input: a 0-scene project is refused in one line, nothing queued."""
    with sqlite3.connect(small / "storyboard.db") as db:
        db.execute("PRAGMA foreign_keys = ON")
        db.execute("DELETE FROM scenes")
    one_line_error(run("export", small), "nothing to export: the storyboard has no scenes")
    with sqlite3.connect(small / "storyboard.db") as db:
        assert db.execute("SELECT count(*) FROM jobs WHERE kind = 'cut'").fetchone() == (0,)
    assert status_json(small)["cut"]["state"] == "none"


@pytest.fixture
def locked_folder(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "locked"
    folder.mkdir()
    if shutil.which("chattr") is None:
        pytest.skip("chattr is not available")
    made = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot make a read-only folder here: {made.stderr.strip()}")
    yield folder
    subprocess.run(["chattr", "-i", str(folder)], check=True)


def test_an_output_outside_a_writable_folder_is_refused(
    small: Path, tmp_path: Path, locked_folder: Path
) -> None:
    """Issue 13, bad input: an output in a folder that does not exist or cannot be written,
    or not an .mp4, is one line with exit 2, and nothing is queued."""
    one_line_error(run("export", small, "-o", tmp_path / "nowhere" / "film.mp4"), "does not exist")
    one_line_error(run("export", small, "-o", locked_folder / "film.mp4"), "not writable")
    one_line_error(run("export", small, "-o", tmp_path / "film.mov"), "MP4")
    with sqlite3.connect(small / "storyboard.db") as db:
        assert db.execute("SELECT count(*) FROM jobs WHERE kind = 'cut'").fetchone() == (0,)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    with mounted_small_disk(tmp_path, 12) as mount:
        yield mount


def test_a_disk_that_fills_during_export_keeps_the_old_cut(small: Path, small_disk: Path) -> None:
    """Issue 13, bad input: the disk fills while the film is written: one line, the old cut
    is kept whole (and still recorded), and no half-written file is left."""
    target = small_disk / "film.mp4"
    ok("export", small, "-o", target)
    before, record = sha256(target), cut_row(small)
    filler = small_disk / "filler"
    with open(filler, "wb") as handle:  # leave room for a few frames, not for a film
        handle.write(
            b"\0" * (os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize - 20_000)
        )
    line = one_line_error(
        run("export", small, "-o", target, "--force"), "the export failed", status=1
    )
    assert "No space left on device" in line or "disk" in line
    assert sha256(target) == before
    assert cut_row(small) == record
    assert temp_files(small_disk) == []


# -- the runner makes it: dropped links, killed runners, Ctrl-C ---------------------------


@pytest.fixture
def slow(tmp_path: Path, write_json: Any) -> Path:
    """Twelve 20 s title cards at 832×480, 16 fps: an export that takes seconds to encode."""
    data = storyboard_json(12)
    data.update(width=832, height=480, fps=16)
    for scene in data["scenes"]:
        scene["audio_duration"] = 20.0
    project = tmp_path / "slow"
    ok("new", project, "--from", write_json(data))
    return project


def export_job(project: Path) -> tuple[str, float] | None:
    with sqlite3.connect(project / "storyboard.db", timeout=10) as db:
        row = db.execute(
            "SELECT state, progress FROM jobs WHERE kind = 'cut' ORDER BY id DESC LIMIT 1"
        ).fetchone()
    return (str(row[0]), float(row[1])) if row else None


def exporting(project: Path) -> bool:
    job = export_job(project)
    return job is not None and job[0] == "running" and job[1] > 0


def test_a_dropped_client_never_stops_an_export(slow: Path) -> None:
    """Issue 13 §3: the export runs in the runner; SIGKILL the `export` that asked for it and
    the film is still made; `runner status` and `status --json` count the export meanwhile."""
    proc = start("export", slow)
    wait_until(lambda: exporting(slow), 120, "the export to make progress")
    assert "(exporting, " in run("runner", slow, "status").stdout
    payload = status_json(slow)
    assert payload["runner"]["export"]["state"] == "running"
    assert payload["runner"]["running"] == 1
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    wait_until(lambda: export_job(slow) == ("succeeded", 1.0), 300, "the export to finish")
    assert film(slow / "exports" / "test-film.mp4")["size"] == (832, 480)
    assert status_json(slow)["cut"]["state"] == "clean"


def test_a_killed_runner_leaves_the_old_cut_whole_and_the_next_one_finishes(slow: Path) -> None:
    """Issue 13 §3: a runner SIGKILLed mid-export leaves the old film as it was; the next
    runner clears the half-written temp file and makes the film."""
    ok("export", slow)
    output = slow / "exports" / "test-film.mp4"
    before = sha256(output)
    ok("set", slow, "1", "narration=A new first line")
    ok("export", slow, "--no-wait")
    wait_until(lambda: exporting(slow), 120, "the export to make progress")
    wait_until(lambda: bool(temp_files(output.parent)), 60, "the temp file")
    pid = runner_pid(slow)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: runner_pid(slow) != pid, 10, "the runner to die")
    assert sha256(output) == before
    assert cut_row(slow)["content_hash"] == before  # type: ignore[index]
    assert export_job(slow)[0] == "running"  # type: ignore[index]
    result = ok("export", slow)  # queues the same again: one export, finished by a new runner
    assert result.stdout.startswith("exported exports/test-film.mp4")
    assert sha256(output) != before and temp_files(output.parent) == []
    assert status_json(slow)["cut"]["state"] == "clean"


def test_ctrl_c_in_a_pipe_leaves_the_export_running(slow: Path) -> None:
    """Issue 13 §3: like regen, Ctrl-C piped leaves the export to the runner and says so."""
    proc = start("export", slow)
    wait_until(lambda: exporting(slow), 120, "the export to make progress")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    assert "the export goes on in the runner" in out
    wait_until(lambda: export_job(slow) == ("succeeded", 1.0), 300, "the export to finish")


def test_runner_stop_cancels_the_export_and_keeps_no_file(slow: Path) -> None:
    """Issue 13 §3: `storyboard runner DIR stop` cancels an export in progress; nothing is
    left half-written and there is still no cut."""
    ok("export", slow, "--no-wait")
    wait_until(lambda: exporting(slow), 120, "the export to make progress")
    ok("runner", slow, "stop")
    assert export_job(slow)[0] == "cancelled"  # type: ignore[index]
    exports = slow / "exports"
    assert temp_files(exports) == [] and not (exports / "test-film.mp4").exists()
    assert status_json(slow)["cut"]["state"] == "missing"
    assert not RunFiles(slow).socket.exists()


def test_ctrl_c_on_a_terminal_asks_and_can_cancel_the_export(slow: Path) -> None:
    """Issue 13 §3: on a TTY, Ctrl-C asks "cancel or leave?"; `c` cancels the export, and
    the old cut (none here) is left as it was."""
    controller, terminal = pty.openpty()
    proc = start(
        "export",
        slow,
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        start_new_session=True,
    )
    os.close(terminal)
    try:
        wait_until(lambda: exporting(slow), 120, "the export to make progress")
        proc.send_signal(signal.SIGINT)
        read_until(controller, b"leave it running?")
        os.write(controller, b"c\n")
        out = read_until(controller, b"cancelled")
        assert proc.wait(timeout=30) == 130, out
    finally:
        os.close(controller)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert export_job(slow)[0] == "cancelled"  # type: ignore[index]
    wait_until(lambda: temp_files(slow / "exports") == [], 30, "the temp file to go")
    assert not (slow / "exports" / "test-film.mp4").exists()
