"""Running `storyboard` as real processes, and waiting on what they leave behind."""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import storyboard_json
from tui.engine.runfiles import RunFiles
from tui.folder import OWN_NAME, TEMP_PREFIX

STORYBOARD = [sys.executable, "-m", "tui"]
IDLE_EXIT = "1.5"
"""Runners started by tests linger this long, not the user's 30 s."""


def env(**extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "NO_COLOR": "1",
        "COLUMNS": "160",
        "STORYBOARD_RUNNER_IDLE_EXIT": IDLE_EXIT,
        **extra,
    }


def run(
    *args: str | Path, timeout: float = 120, idle_exit: str = IDLE_EXIT
) -> subprocess.CompletedProcess[str]:
    """`storyboard ARGS`; a runner it starts lingers `idle_exit` seconds once idle."""
    return subprocess.run(
        [*STORYBOARD, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env(STORYBOARD_RUNNER_IDLE_EXIT=idle_exit),
    )


def interruptible() -> None:
    """In the child: Ctrl-C as a foreground command gets it.

    A shell starts background jobs (`make test &`) with SIGINT ignored, every
    child inherits that, and a command rightly leaves an ignored SIGINT alone; the
    Ctrl-C tests are about a command run in the foreground.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(*args: str | Path, **kwargs: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*STORYBOARD, *map(str, args)],
        stdout=kwargs.pop("stdout", subprocess.PIPE),
        stderr=kwargs.pop("stderr", subprocess.PIPE),
        text=True,
        env=env(),
        preexec_fn=interruptible,
        **kwargs,
    )


def status_json(project: Path) -> dict[str, Any]:
    result = run("status", project, "--json")
    assert result.returncode == 0, result.stderr
    payload: dict[str, Any] = json.loads(result.stdout)
    return payload


def make_project(tmp_path: Path, count: int, name: str = "film") -> Path:
    source = tmp_path / f"{name}.json"
    source.write_text(json.dumps(storyboard_json(count)), encoding="utf-8")
    project = tmp_path / name
    assert run("new", project, "--from", source).returncode == 0
    return project


def job_states(project: Path) -> dict[str, int]:
    with sqlite3.connect(project / "storyboard.db", timeout=10) as db:
        return dict(db.execute("SELECT state, count(*) FROM jobs GROUP BY state").fetchall())


def active_jobs(project: Path) -> int:
    states = job_states(project)
    return sum(states.get(state, 0) for state in ("queued", "submitted", "running"))


def wait_until(condition: Callable[[], bool], timeout: float = 60, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.05)


def runner_pid(project: Path) -> int | None:
    return RunFiles(project).live_pid()


def wait_for_successes(project: Path, count: int) -> None:
    def enough() -> bool:
        try:
            return job_states(project).get("succeeded", 0) >= count
        except sqlite3.OperationalError:
            return False

    wait_until(enough, 120, f"{count} successes")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is not alive
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().split(") ")[-1][0] != "Z"
    except OSError:
        return False


def assert_everything_clean_and_tidy(project: Path) -> None:
    scenes = status_json(project)["scenes"]
    assert all((s["image"], s["video"]) == ("clean", "clean") for s in scenes), scenes
    referenced = {s["image_file"] for s in scenes} | {s["video_file"] for s in scenes}
    on_disk = {
        p.relative_to(project).as_posix()
        for p in (project / "assets").rglob("*")
        if p.is_file() and (OWN_NAME.match(p.name) or p.name.startswith(TEMP_PREFIX))
    }
    assert on_disk == referenced
    assert all((project / name).stat().st_size > 0 for name in referenced)
    assert active_jobs(project) == 0


def read_until(fd: int, needle: bytes, timeout: float = 60) -> bytes:
    """What a terminal (the pty's controller end) shows, up to and including `needle`."""
    seen = b""
    deadline = time.monotonic() + timeout
    while needle not in seen:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise AssertionError(f"never saw {needle!r}; got {seen[-400:]!r}")
        try:
            seen += os.read(fd, 4096)
        except OSError:
            break
    return seen


@contextlib.contextmanager
def small_disk(tmp_path: Path, mib: int) -> Iterator[Path]:
    """A real filesystem of `mib` MiB (tmpfs), mounted for the test; skipped where it
    cannot be."""
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small filesystem needs root and mount(8)")
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={mib}m,mode=0755", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small filesystem here: {made.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)
