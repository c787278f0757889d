"""The detached runner as real processes: killed clients, killed runners, races, Ctrl-C.

Every test here starts `storyboard` as the user would, and checks what is left
behind: the database, the files, and whether any process lingers.
"""

from __future__ import annotations

import os
import pty
import signal
import socket
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import storyboard_json
from tests.processes import (
    active_jobs,
    assert_everything_clean_and_tidy,
    job_states,
    make_project,
    pid_alive,
    read_until,
    run,
    runner_pid,
    start,
    status_json,
    wait_for_successes,
    wait_until,
)
from tui.engine.engine import STOPPED_TWICE
from tui.engine.runfiles import RunFiles

pytestmark = pytest.mark.slow


def wait_runner_gone(project: Path, timeout: float = 20) -> None:
    wait_until(lambda: runner_pid(project) is None, timeout, "the runner to exit")


def runner_starts(project: Path) -> int:
    log = RunFiles(project).log
    return log.read_text(encoding="utf-8").count(" started for ") if log.exists() else 0


def test_a_killed_client_loses_nothing_and_the_batch_goes_on(tmp_path: Path) -> None:
    """Issue 9: SIGKILL the window that queued a batch; the runner finishes it and exits."""
    project = make_project(tmp_path, 40)
    proc = start("regen", project, "--include-missing")
    wait_for_successes(project, 1)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert active_jobs(project) > 0, "the kill came too late to test anything"
    pid = runner_pid(project)
    assert pid is not None
    wait_until(lambda: active_jobs(project) == 0, 120, "the batch to finish")
    assert_everything_clean_and_tidy(project)
    wait_runner_gone(project)
    wait_until(lambda: not pid_alive(pid), 10, "the runner process to end")
    assert not RunFiles(project).socket.exists()


def test_a_runner_killed_mid_batch_is_replaced_and_reconciles(tmp_path: Path) -> None:
    """Issue 9: SIGKILL the runner; the next client starts a new one that finishes the work."""
    project = make_project(tmp_path, 40)
    assert run("regen", project, "--include-missing", "--no-wait").returncode == 0
    wait_for_successes(project, 1)
    pid = runner_pid(project)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: runner_pid(project) is None, 10, "the lock to be released")
    assert active_jobs(project) > 0, "the kill came too late to test anything"
    result = run("regen", project, "--include-missing", timeout=300)
    assert result.returncode == 0, result.stderr
    assert "failed" not in result.stdout.split("succeeded")[0]
    assert_everything_clean_and_tidy(project)
    assert runner_starts(project) == 2
    wait_runner_gone(project)


def test_two_clients_starting_a_runner_at_once_get_exactly_one(tmp_path: Path) -> None:
    """Issue 9: a race to start the runner ends with one runner, and both clients attached."""
    project = make_project(tmp_path, 6)
    first = start("regen", project, "--images", "--include-missing")
    second = start("regen", project, "--images", "--include-missing")
    out_first, err_first = first.communicate(timeout=120)
    out_second, err_second = second.communicate(timeout=120)
    assert first.returncode == 0, err_first
    assert second.returncode == 0, err_second
    assert runner_starts(project) == 1
    assert job_states(project) == {"succeeded": 6}
    assert "6 succeeded" in out_first + out_second
    wait_runner_gone(project)


def test_no_wait_queues_and_runner_status_shows_the_work(tmp_path: Path) -> None:
    """Issue 9: `regen --no-wait` exits at once; `runner status` names the runner and jobs."""
    project = make_project(tmp_path, 8)
    result = run("regen", project, "--include-missing", "--no-wait", idle_exit="60")
    assert result.returncode == 0, result.stderr
    assert "queued 16 job(s)" in result.stdout
    status = run("runner", project, "status")
    assert status.returncode == 0
    assert f"runner: pid {runner_pid(project)}" in status.stdout
    assert "renders with draft" in status.stdout
    payload = status_json(project)
    assert payload["runner"]["pid"] == runner_pid(project)
    assert payload["runner"]["state"] in ("running", "idle")
    wait_until(lambda: active_jobs(project) == 0, 120, "the batch")
    assert f"runner: pid {runner_pid(project)}, idle" in run("status", project).stdout
    log = run("runner", project, "log")
    assert "started for" in log.stdout
    assert run("runner", project, "stop").returncode == 0
    assert "runner: not running" in run("runner", project).stdout


def test_runner_stop_cancels_the_batch_and_exits(tmp_path: Path) -> None:
    """Issue 9: `storyboard runner DIR stop` cancels its jobs and stops it."""
    project = make_project(tmp_path, 100)  # 200 jobs: still running when the stop lands
    assert run("regen", project, "--include-missing", "--no-wait").returncode == 0
    wait_for_successes(project, 2)
    result = run("runner", project, "stop")
    assert result.returncode == 0, result.stderr
    assert "stopped" in result.stdout
    assert runner_pid(project) is None
    states = job_states(project)
    assert set(states) <= {"succeeded", "cancelled"} and states.get("cancelled", 0) > 0


def test_ctrl_c_in_a_pipe_leaves_the_batch_running(tmp_path: Path) -> None:
    """Issue 9: piped, Ctrl-C leaves the batch to the runner and says so."""
    project = make_project(tmp_path, 30)  # 60 jobs: still running when the signal lands
    proc = start("regen", project, "--include-missing")
    wait_for_successes(project, 2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    assert "left running in the runner" in out
    summary = out.strip().splitlines()[-1]
    succeeded = int(summary.split("interrupted: ")[1].split(" succeeded")[0])
    assert 2 <= succeeded <= job_states(project).get("succeeded", 0)  # true counts
    wait_until(lambda: active_jobs(project) == 0, 120, "the batch to finish anyway")
    assert_everything_clean_and_tidy(project)


def test_ctrl_c_on_a_terminal_asks_and_can_cancel(tmp_path: Path) -> None:
    """Issue 9: on a TTY, Ctrl-C asks "cancel or leave?"; `c` cancels the rest of the batch."""
    project = make_project(tmp_path, 100)  # the runner goes on while the question waits
    controller, terminal = pty.openpty()
    proc = start(
        "regen",
        project,
        "--include-missing",
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        start_new_session=True,
    )
    os.close(terminal)
    try:
        wait_for_successes(project, 2)
        proc.send_signal(signal.SIGINT)
        read_until(controller, b"leave them running?")
        os.write(controller, b"c\n")
        out = read_until(controller, b"cancelled")
        assert proc.wait(timeout=30) == 130, out
    finally:
        os.close(controller)
    states = job_states(project)
    assert set(states) <= {"succeeded", "cancelled"}, states
    assert states.get("cancelled", 0) > 0
    assert active_jobs(project) == 0
    wait_runner_gone(project)


def test_a_stale_or_foreign_socket_file_is_replaced(tmp_path: Path) -> None:
    """Issue 9: junk at the socket's path, or a dead runner's socket, never blocks a batch."""
    project = make_project(tmp_path, 2)
    files = RunFiles(project)
    files.ensure()
    files.socket.write_bytes(b"not a socket")
    assert run("regen", project, "--images", "--include-missing").returncode == 0
    wait_runner_gone(project)
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(str(files.socket))  # a socket nobody listens on any more
    dead.close()
    result = run("regen", project, "--videos", "--include-missing")
    assert result.returncode == 0, result.stderr
    assert_everything_clean_and_tidy(project)
    wait_runner_gone(project)


def test_a_runner_that_cannot_start_says_why_in_one_line(tmp_path: Path) -> None:
    """Issue 9: when the runner cannot start, the client says why; the work stays queued."""
    project = make_project(tmp_path, 2)
    (project / ".storyboard").write_text("a file where the runner's folder goes")
    result = run("regen", project, "--images", "--include-missing")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot start the runner" in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert active_jobs(project) == 2  # queued, waiting for a runner that can start
    (project / ".storyboard").unlink()
    assert run("regen", project, "--images", "--include-missing").returncode == 0
    assert job_states(project) == {"succeeded": 2}
    wait_runner_gone(project)


def test_the_runner_runs_detached_and_exits_when_idle(tmp_path: Path) -> None:
    """Issue 9: the runner has its own session, no terminal, a log; it exits when idle."""
    project = make_project(tmp_path, 2)
    assert run("regen", project, "--images", "--include-missing", "--no-wait").returncode == 0
    pid = runner_pid(project)
    assert pid is not None
    assert os.getsid(pid) != os.getsid(0)
    stdin = os.readlink(f"/proc/{pid}/fd/0")
    assert stdin == "/dev/null"
    assert os.stat(RunFiles(project).socket).st_mode & 0o777 == 0o600
    wait_runner_gone(project)
    wait_until(lambda: not pid_alive(pid), 10, "the runner process to end")


def test_status_of_a_project_with_a_dead_runners_jobs_says_they_wait(tmp_path: Path) -> None:
    """Issue 9: `status` tells that jobs wait for a runner after the last one was killed."""
    project = make_project(tmp_path, 12)
    assert run("regen", project, "--include-missing", "--no-wait").returncode == 0
    wait_for_successes(project, 1)
    pid = runner_pid(project)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: runner_pid(project) is None, 10)
    if active_jobs(project) == 0:
        pytest.skip("the batch finished before the kill")
    line = run("status", project).stdout.strip().splitlines()[-1]
    assert line.startswith("runner: not running (") and "waiting" in line
    assert run("regen", project, "--include-missing").returncode == 0
    wait_runner_gone(project)


def test_sigterm_stops_the_runner_without_losing_jobs(tmp_path: Path) -> None:
    """A runner asked to stop by the system (SIGTERM) leaves its jobs for the next one."""
    project = make_project(tmp_path, 16)
    assert run("regen", project, "--include-missing", "--no-wait").returncode == 0
    wait_for_successes(project, 2)
    pid = runner_pid(project)
    assert pid is not None
    os.kill(pid, signal.SIGTERM)
    wait_until(lambda: runner_pid(project) is None, 20, "the runner to stop")
    assert "cancelled" not in job_states(project)
    result = run("regen", project, "--include-missing", timeout=300)
    assert result.returncode == 0, result.stderr
    assert_everything_clean_and_tidy(project)
    wait_runner_gone(project)


def test_cron_style_regen_needs_no_terminal(tmp_path: Path) -> None:
    """`regen --no-wait` from a process with no terminal at all (cron) works and exits 0."""
    project = make_project(tmp_path, 2)
    proc = start(
        "regen",
        project,
        "--include-missing",
        "--no-wait",
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    wait_until(lambda: active_jobs(project) == 0, 120)
    assert_everything_clean_and_tidy(project)
    wait_runner_gone(project)


def _video_job(project: Path, position: int) -> tuple[int, str, int] | None:
    """(id, state, attempts) of the newest video job of the scene at `position`."""
    with sqlite3.connect(project / "storyboard.db", timeout=10) as db:
        row = db.execute(
            "SELECT j.id, j.state, j.attempts FROM jobs j JOIN scenes s ON s.id = j.scene_id "
            "WHERE s.position = ? AND j.kind = 'video' ORDER BY j.id DESC LIMIT 1",
            (position,),
        ).fetchone()
    return (int(row[0]), str(row[1]), int(row[2])) if row else None


def _kill_the_runner_while_it_makes(project: Path, *, attempt: int) -> None:
    """SIGKILL the runner once scene 1's video runs for the `attempt`-th retry."""

    def running() -> bool:
        job = _video_job(project, 1)
        return job is not None and job[1:] == ("running", attempt)

    wait_until(running, 120, f"the long clip to run (attempt {attempt + 1})")
    pid = runner_pid(project)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: runner_pid(project) != pid, 10, "the runner to die")


def test_a_job_that_keeps_killing_the_runner_fails_after_one_retry(
    tmp_path: Path, write_json: Any
) -> None:
    """Issue 10 item 8: a runner SIGKILLed twice while the same job runs: the job fails for
    good with its reason after one retry, and the rest of the batch finishes (jobs that
    were only waiting when the runner died are not held to account)."""
    data = storyboard_json(4)
    data.update(width=832, height=480, fps=16)
    data["scenes"][0]["audio_duration"] = 90.0  # a clip long enough to be killed in
    project = tmp_path / "film"
    assert run("new", project, "--from", write_json(data)).returncode == 0
    assert run("regen", project, "--images", "--include-missing").returncode == 0
    proc = start("regen", project, "--videos", "--include-missing")
    try:
        _kill_the_runner_while_it_makes(project, attempt=0)
        _kill_the_runner_while_it_makes(project, attempt=1)
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1, (out, err)
    assert f"scene 1 video: {STOPPED_TWICE}" in out
    assert "3 succeeded, 1 failed" in out
    job = _video_job(project, 1)
    assert job is not None and job[1:] == ("failed", 1)
    states = [_video_job(project, position) for position in (2, 3, 4)]
    assert all(state is not None and state[1] == "succeeded" for state in states), states
    wait_runner_gone(project)
