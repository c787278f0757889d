"""The draft backend: storyboard cards and animatics, rendered locally in a worker thread.

It goes through the same queue, progress and replacement path as ComfyUI, so
the whole app works on a laptop with no GPU and no server.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

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
from tui.backends.draft.render import RenderCancelled, render_clip, render_still, write_clip
from tui.backends.registry import DRAFT_IMAGE_WORKFLOW, DRAFT_VIDEO_WORKFLOW
from tui.domain.models import AssetKind

PROGRESS_INTERVAL = 1 / 30
"""At most this often per job: a progress event per frame would only be thrown away."""


class DraftBackend(Backend):
    """One render thread, with a window of jobs handed over ahead of it."""

    name = "draft"

    def __init__(self, *, window: int = 2) -> None:
        super().__init__()
        self.window = window
        self._pending: asyncio.Queue[JobSpec] = asyncio.Queue()
        self._held: set[str] = set()
        self._cancelled: set[str] = set()
        self._worker: asyncio.Task[None] | None = None

    def workflow_id(self, kind: AssetKind) -> str:
        return DRAFT_IMAGE_WORKFLOW if kind is AssetKind.IMAGE else DRAFT_VIDEO_WORKFLOW

    def capacity(self) -> int:
        return self.window - len(self._held)

    async def start(self) -> None:
        if self._worker is None:
            self._worker = asyncio.create_task(self._run(), name="draft-renderer")

    async def submit(self, spec: JobSpec) -> None:
        self._held.add(spec.key)
        self._cancelled.discard(spec.key)
        self.set_status(replace(self.status, queue=len(self._held)))
        await self._pending.put(spec)

    async def cancel(self, key: str) -> None:
        if key in self._held:
            self._cancelled.add(key)

    async def recover(self, spec: JobSpec) -> Recovery:
        return Recovery.RERUN

    async def close(self) -> None:
        self._cancelled.update(self._held)
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None

    async def _run(self) -> None:
        while True:
            spec = await self._pending.get()
            try:
                if spec.key in self._cancelled:
                    self.emit(Cancelled(spec.key))
                    continue
                self.emit(Started(spec.key))
                await self._render(spec)
            finally:
                self._held.discard(spec.key)
                self._cancelled.discard(spec.key)
                self.set_status(replace(self.status, queue=len(self._held)))

    async def _render(self, spec: JobSpec) -> None:
        loop = asyncio.get_running_loop()
        last = [0.0]
        stop = threading.Event()

        def progress(done: int, total: int) -> None:
            now = loop.time()
            if done < total and now - last[0] < PROGRESS_INTERVAL:
                return
            last[0] = now
            event = Progress(spec.key, done, total, done / total if total else 1.0)
            loop.call_soon_threadsafe(self.emit, event)

        def cancelled() -> bool:
            return stop.is_set() or spec.key in self._cancelled

        try:
            output = await asyncio.to_thread(self._draw, spec, progress, cancelled)
        except RenderCancelled:
            self.emit(Cancelled(spec.key))
        except asyncio.CancelledError:
            stop.set()
            raise
        except Exception as error:  # a render bug fails this job, not the app
            self.emit(Failed(spec.key, f"draft renderer: {error}"))
        else:
            self.emit(output)

    @staticmethod
    def _draw(
        spec: JobSpec, progress: Callable[[int, int], None], cancelled: Callable[[], bool]
    ) -> Output:
        p = spec.params
        if spec.kind is AssetKind.IMAGE:
            data = render_still(
                prompt=p["image_prompt"],
                negative_prompt=p.get("negative_prompt", ""),
                seed=int(p["seed"]),
                position=spec.scene_position,
                width=int(p["width"]),
                height=int(p["height"]),
                progress=progress,
                cancel=cancelled,
            )
            return Output(spec.key, data, "draft.png")
        if spec.image_path is None:
            raise ValueError("no still to animate")
        clip = {
            "still": Path(spec.image_path).read_bytes(),
            "camera": p["camera"],
            "motion": float(p["motion"]),
            "duration": float(p["duration"]),
            "fps": int(p["fps"]),
            "width": int(p["width"]),
            "height": int(p["height"]),
            "progress": progress,
            "cancel": cancelled,
        }
        if spec.staging is None:
            return Output(spec.key, render_clip(**clip), "draft.mp4")
        # Streamed to the engine's staging file: memory stays flat however long the scene.
        write_clip(spec.staging, **clip)
        return Output(spec.key, b"", "draft.mp4", path=spec.staging)
