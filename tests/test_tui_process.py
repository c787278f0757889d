"""The TUI as a real process on a real pseudo-terminal: what happens when the terminal dies.

A creator's SSH link drops mid-batch. The TUI must save what is typed and
exit at once (never spin on the dead tty), and the batch must go on in the
runner, which has no terminal, until every asset is made.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import sqlite3
import struct
import subprocess
import termios
import threading
import time
from pathlib import Path

import pytest

from tests.processes import (
    STORYBOARD,
    active_jobs,
    assert_everything_clean_and_tidy,
    env,
    make_project,
    pid_alive,
    runner_pid,
    wait_until,
)

pytestmark = pytest.mark.slow


class Screen(threading.Thread):
    """Drains the terminal's output (a full pty would block the app) and keeps it."""

    def __init__(self, fd: int) -> None:
        super().__init__(daemon=True)
        self.fd = fd
        self.output = b""

    def run(self) -> None:
        while True:
            try:
                ready, _, _ = select.select([self.fd], [], [], 0.1)
                if ready:
                    chunk = os.read(self.fd, 65536)
                    if not chunk:
                        return
                    self.output += chunk
            except (OSError, ValueError):
                return

    def shows(self, text: str) -> bool:
        return text.encode() in self.output


def tui_env(home: Path) -> dict[str, str]:
    (home / ".config").mkdir(parents=True, exist_ok=True)
    return env(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        TERM="xterm-256color",
        COLUMNS="120",
        LINES="36",
        STORYBOARD_SAVE_DELAY="10",
        STORYBOARD_IMAGE_RENDERER="halfblock",
    )


def exited_within(pid: int, seconds: float) -> int | None:
    """The exit status if `pid` (our child) exits within `seconds`, else None."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    return None


def prompt_of(project: Path, position: int) -> str:
    with sqlite3.connect(project / "storyboard.db", timeout=10) as db:
        row = db.execute("SELECT image_prompt FROM scenes WHERE position = ?", (position,))
        return str(row.fetchone()[0])


def test_closing_the_terminal_mid_batch_ends_the_tui_but_not_the_batch(tmp_path: Path) -> None:
    """Issue 9: the pty closes (SIGHUP); the TUI exits within 5 s; the batch finishes."""
    project = make_project(tmp_path, 24)
    pid, fd = pty.fork()
    if pid == 0:  # the child: the TUI, with the pty as its controlling terminal
        os.execve(STORYBOARD[0], [*STORYBOARD, str(project)], tui_env(tmp_path / "home"))
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 36, 120, 0, 0))
    screen = Screen(fd)
    screen.start()
    try:
        wait_until(lambda: screen.shows("runner: not running"), 30, "the TUI to open")
        os.write(fd, b"a")  # regenerate everything, from the keyboard
        wait_until(lambda: runner_pid(project) is not None, 30, "the runner to start")
        wait_until(lambda: active_jobs(project) > 0, 30, "the batch to be queued")
    finally:
        os.close(fd)  # the terminal is gone
    status = exited_within(pid, 5.0)
    if status is None:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise AssertionError("the TUI did not exit within 5 s of its terminal closing")
    runner = runner_pid(project)
    wait_until(lambda: active_jobs(project) == 0, 120, "the batch to finish without a TUI")
    assert_everything_clean_and_tidy(project)
    wait_until(lambda: runner_pid(project) is None, 40, "the runner to exit when idle")
    if runner is not None:
        wait_until(lambda: not pid_alive(runner), 10, "no process left")


def test_a_tty_that_hangs_up_without_a_signal_is_noticed_and_typing_is_saved(
    tmp_path: Path,
) -> None:
    """Issue 9: EOF/EIO on the tty with no SIGHUP: the TUI saves the typed text and exits."""
    project = make_project(tmp_path, 3)
    controller, terminal = pty.openpty()
    # A new session that never takes the pty as its controlling terminal: closing
    # the pty sends no SIGHUP, only a hang-up on the file itself.
    proc = subprocess.Popen(
        [*STORYBOARD, str(project)],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        start_new_session=True,
        env=tui_env(tmp_path / "home"),
    )
    os.close(terminal)
    screen = Screen(controller)
    screen.start()
    try:
        # A pty that never had its size set: the app must still open (at 80×24).
        wait_until(lambda: screen.shows("Test film"), 30, "the TUI to open")
        os.write(controller, b"\r")  # enter: edit the first scene's image prompt
        time.sleep(0.5)
        os.write(controller, b" at dawn")
        wait_until(lambda: screen.shows("at dawn"), 10, "the typing to show")
    finally:
        os.close(controller)
    started = time.monotonic()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError("the TUI spun on a dead terminal") from None
    assert time.monotonic() - started < 5
    assert " at dawn" in prompt_of(project, 1)  # saved on hang-up, not after the 10 s pause
