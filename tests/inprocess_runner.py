"""A project runner inside the test's own event loop, over its real Unix socket.

Production starts the runner as a detached process; tests that are about the
TUI or the client (not about processes) start the same `Runner` in-process
with a test backend, so they stay fast and deterministic. The socket, the
database and the lock are all real.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from tui.backends.base import Backend
from tui.engine.project import BackendChoice, Project
from tui.engine.runfiles import RunnerBusy
from tui.engine.runner import Runner

OPEN_LAUNCHERS: list[InProcessLauncher] = []
"""Every launcher a test made; the UI conftest stops their runners after each test."""


class InProcessLauncher:
    """A `Launcher` that serves the project with `backend` in this process."""

    def __init__(self, backend: Backend, *, idle_exit: float = 3600.0) -> None:
        self.backend = backend
        self.idle_exit = idle_exit
        self.runners: list[Runner] = []
        self.launches = 0
        self._tasks: list[asyncio.Task[None]] = []
        OPEN_LAUNCHERS.append(self)

    async def __call__(self, root: Path, choice: BackendChoice) -> None:
        self.launches += 1
        project = await Project.open(root, choice=choice)
        runner = Runner(project, self.backend, idle_exit=self.idle_exit)
        try:
            await runner.open()
        except RunnerBusy:
            await project.close()
            return
        self.runners.append(runner)
        self._tasks.append(asyncio.create_task(self._serve(runner, project)))

    async def _serve(self, runner: Runner, project: Project) -> None:
        try:
            await runner.serve()
        finally:
            await project.close()

    @property
    def runner(self) -> Runner:
        assert self.runners, "no runner was started"
        return self.runners[-1]

    async def aclose(self) -> None:
        for runner in self.runners:
            runner.stop()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self in OPEN_LAUNCHERS:
            OPEN_LAUNCHERS.remove(self)
