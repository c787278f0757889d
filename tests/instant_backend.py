"""A backend that renders nothing: it answers at once, or when a test says so.

It exists to test the engine's own rules (and to benchmark the engine's
overhead) without a renderer's cost or timing in the way. It is not a
stand-in for ComfyUI; that is `tests/comfyui_server`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from tui.backends.base import (
    Backend,
    Cancelled,
    Failed,
    JobSpec,
    Output,
    Progress,
    Recovery,
    Started,
)
from tui.domain.models import AssetKind


class InstantBackend(Backend):
    """Finishes each job with `payload` bytes unless told to hold, fail or lose it."""

    name = "draft"

    def __init__(
        self,
        *,
        window: int = 2,
        hold: bool = False,
        payload: bytes = b"x" * 1024,
        output_name: str | None = None,
    ) -> None:
        super().__init__()
        self.window = window
        self.hold = hold
        """Keep submitted jobs running until `release` is called."""
        self.payload = payload
        self.output_name = output_name
        self.fail_with: str | None = None
        self.recovery = Recovery.RERUN
        self.submitted: list[JobSpec] = []
        self.cancelled: list[str] = []
        self.held: dict[str, JobSpec] = {}

    def workflow_id(self, kind: AssetKind) -> str:
        return "draft-image/1" if kind is AssetKind.IMAGE else "draft-video/1"

    def capacity(self) -> int:
        return self.window - len(self.held)

    async def submit(self, spec: JobSpec) -> None:
        self.submitted.append(spec)
        self.held[spec.key] = spec
        self.emit(Started(spec.key))
        if not self.hold:
            self.finish(spec.key)

    def finish(self, key: str) -> None:
        spec = self.held.pop(key)
        self.emit(Progress(key, 1, 2, 0.5, "1"))
        if self.fail_with is not None:
            self.emit(Failed(key, self.fail_with))
            return
        suffix = ".png" if spec.kind is AssetKind.IMAGE else ".mp4"
        data = self.payload + key.encode()  # every take differs, as real renders do
        self.emit(Output(key, data, self.output_name or f"out{suffix}"))

    def release_all(self) -> None:
        for key in list(self.held):
            self.finish(key)

    async def cancel(self, key: str) -> None:
        self.cancelled.append(key)
        if self.held.pop(key, None) is not None:
            self.emit(Cancelled(key))

    async def recover(self, spec: JobSpec) -> Recovery:
        return self.recovery

    async def settle(self, until: Callable[[], bool] | None = None, timeout: float = 10) -> None:
        """Let the engine work until `until()` holds, or until it has gone quiet.

        Database writes hop to a worker thread, so a fixed number of event-loop
        turns is not enough; waiting on the condition keeps tests deterministic.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        quiet = 0
        while loop.time() < deadline:
            if until is not None and until():
                return
            before = (len(self.submitted), len(self.held), self._events.qsize())
            await asyncio.sleep(0.005)
            after = (len(self.submitted), len(self.held), self._events.qsize())
            quiet = quiet + 1 if before == after and not self._events.qsize() else 0
            if until is None and quiet >= 6:
                return
        if until is not None:
            raise AssertionError("condition not reached in time")
