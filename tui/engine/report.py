"""Every scene's state, judged while the rows stream by: `storyboard status` at any size.

A project of 100,000 scenes does not fit in a few hundred megabytes as
models, and does not need to: a report reads the scenes in position order
inside one read transaction (one consistent snapshot), judges each one as it
arrives and hands it on, keeping nothing but the tallies. The consumer (the
CLI's table or JSON writer) runs on the database's thread, so the whole
report is one hop, and prints as it goes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from tui.domain.cut import CutRecord, CutScene, film_row
from tui.domain.jobs import Job
from tui.domain.models import AssetKind, AssetState, RenderSettings, Scene
from tui.domain.staleness import (
    Present,
    SceneStatus,
    current_inputs,
    fingerprint,
    gone,
    scene_status,
    why,
)
from tui.engine.requests import asset_inputs
from tui.store.history import latest_failures
from tui.store.repository import ProjectStore
from tui.store.transaction import Tx

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SceneReport:
    """One scene as `status` shows it."""

    scene: Scene
    status: SceneStatus
    why: dict[AssetKind, list[str]]
    image_file: str | None
    """The still's stored name, or None when there is none or its file is gone."""
    video_file: str | None
    errors: dict[AssetKind, str | None]
    """Each asset's last error, while its newest job failed and the scene still asks for
    what that job was to make (an edit or a success clears it)."""


@dataclass
class Tally:
    """How many assets are in each state, per kind, for the summary line and the batch bar."""

    counts: dict[AssetKind, dict[AssetState, int]] = field(
        default_factory=lambda: {kind: dict.fromkeys(AssetState, 0) for kind in AssetKind}
    )
    scenes: int = 0
    record: CutRecord | None = None
    """The current film, read in the same transaction as the scenes."""
    film: list[CutScene] = field(default_factory=list)
    """What each scene would put into the film now (`film_row`), for the cut's state."""

    def add(self, status: SceneStatus) -> None:
        self.scenes += 1
        self.counts[AssetKind.IMAGE][status.image] += 1
        self.counts[AssetKind.VIDEO][status.video] += 1

    def line(self) -> str:
        """ "1 dirty images, 2 missing · 3 dirty videos, 2 missing"."""
        parts = []
        for kind in AssetKind:
            dirty = self.counts[kind][AssetState.DIRTY]
            missing = self.counts[kind][AssetState.MISSING]
            parts.append(f"{dirty} dirty {kind.value}s, {missing} missing")
        return " · ".join(parts)


def reports(
    tx: Tx,
    settings: RenderSettings,
    present: Present,
    tally: Tally,
    durations: Mapping[int, tuple[float, str]] | None = None,
) -> Iterator[SceneReport]:
    """Each scene, judged, in position order, as its row is read; counted into `tally`.

    `durations` (scene id → length, audio hash) are narration files measured
    anew that a reader may not store: the scenes are judged as if it had.
    """
    tally.record = tx.cut()
    unreadable = tally.record.unreadable if tally.record is not None else frozenset()
    failed = {(job.scene_id, job.kind): job for job in latest_failures(tx)}
    for scene in tx.iter_scenes():
        if durations and scene.id in durations:
            length, audio_hash = durations[scene.id]
            scene = scene.model_copy(update={"audio_duration": length, "audio_hash": audio_hash})
        status = scene_status(scene, settings, present)
        tally.add(status)
        tally.film.append(film_row(scene, present, unreadable))
        image, video = scene.image, scene.video
        yield SceneReport(
            scene=scene,
            status=status,
            why=why(scene, settings, present, status),
            image_file=None if image is None or gone(image, present) else image.file,
            video_file=None if video is None or gone(video, present) else video.file,
            errors=_errors(failed, scene, settings) if failed else NO_ERRORS,
        )


NO_ERRORS: dict[AssetKind, str | None] = dict.fromkeys(AssetKind)
"""Shared by every scene of a project with no failure: no dict per scene."""


def _errors(
    failed: Mapping[tuple[int, AssetKind], Job], scene: Scene, settings: RenderSettings
) -> dict[AssetKind, str | None]:
    return {kind: _error(failed.get((scene.id, kind)), scene, kind, settings) for kind in AssetKind}


def _error(job: Job | None, scene: Scene, kind: AssetKind, settings: RenderSettings) -> str | None:
    """A failed job's message while the scene still asks for what it was to make."""
    if job is None:
        return None
    wanted = fingerprint(current_inputs(scene, kind, settings))
    if fingerprint(asset_inputs(kind, dict(job.params))) != wanted:
        return None
    return job.error or "failed"


async def report(
    store: ProjectStore,
    settings: RenderSettings,
    consume: Callable[[Iterator[SceneReport], Tally], T],
    durations: Mapping[int, tuple[float, str]] | None = None,
) -> T:
    """Run `consume` over every scene's report inside one read transaction.

    `consume` runs on the database's thread; it may write output as it goes.
    The tally is complete once the iterator is exhausted.
    """
    present = store.files.has

    def work(tx: Tx) -> T:
        tally = Tally()
        return consume(reports(tx, settings, present, tally, durations), tally)

    return await store.read(work)
