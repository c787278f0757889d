"""Deciding and queueing regenerations: what any process may do, in one transaction.

A TUI, a second TUI and `storyboard regen` may all ask for work at the same
moment. Each request reads the scenes and the jobs already in flight, decides
per asset, supersedes and inserts job rows, all inside one `BEGIN IMMEDIATE`
transaction, so two requests never both queue the same asset. Running the
jobs is the runner's business (`tui.engine.engine`), not the requester's.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from tui.domain.jobs import Job, JobState
from tui.domain.models import SEED_LIMIT, AssetKind, AssetState, RenderSettings, Scene
from tui.domain.staleness import (
    IMAGE_INPUT_KEYS,
    VIDEO_INPUT_KEYS,
    Present,
    asset_state,
    fingerprint,
    gone,
    image_inputs,
    video_inputs,
    why,
)
from tui.store.repository import ProjectStore
from tui.store.transaction import Tx

KINDS_IMAGES_FIRST = (AssetKind.IMAGE, AssetKind.VIDEO)
NO_IMAGE = "Cannot generate video without an image"
TAKE_FROM_SEED = "take_from_seed"
"""In a new take's parameters: the scene's seed it replaces. The drawn seed becomes
the scene's seed only when the take succeeds, and only if nobody changed it since."""


class Refused(Exception):
    """A request that cannot run, with a message meant for the user."""


class Action(StrEnum):
    """What a request does with one asset."""

    QUEUE = "queue"
    SKIP = "skip"
    """Nothing to do, quietly (a batch passing over a clean asset)."""
    REFUSE = "refuse"
    """The user named this asset and it cannot be made; they get the reason."""


class Why(StrEnum):
    """Why a decision went the way it did; worded for people only in `describe`."""

    DIRTY = "dirty"
    MISSING = "missing"
    NEW_TAKE = "new_take"
    NO_PROMPT = "no_prompt"
    GONE = "gone"
    """The file was made once and has been deleted since."""
    MISSING_NOT_ASKED = "missing_not_asked"
    UP_TO_DATE = "up_to_date"
    ALREADY_QUEUED = "already_queued"
    NO_IMAGE = "no_image"
    IMAGE_GONE = "image_gone"
    """The video's still was deleted from disk: nothing to animate until it is remade."""
    IMAGE_STALE = "image_stale"
    """The video's image is stale and not being remade: a video made now would be stale."""


WAITS_FOR_IMAGE = frozenset({Why.NO_IMAGE, Why.IMAGE_GONE, Why.IMAGE_STALE})


@dataclass(frozen=True)
class Decision:
    """One (scene, kind) of a request: what will happen to it, and why."""

    scene: Scene
    kind: AssetKind
    action: Action
    why: Why
    detail: str = ""
    """For DIRTY: the why-dirty lines, joined."""
    job: Job | None = None
    """The job queued, or for ALREADY_QUEUED the one already waiting."""

    @property
    def reason(self) -> str:
        return describe(self)


def describe(decision: Decision) -> str:
    """A decision in the user's words, for a toast, a CLI line or a dry run."""
    name = f"Scene {decision.scene.position}"
    kind = decision.kind.value
    match decision.why:
        case Why.DIRTY:
            return decision.detail or f"{name}'s {kind} is stale"
        case Why.MISSING:
            return f"no {kind} yet"
        case Why.GONE:
            return f"the {kind} file is gone"
        case Why.NEW_TAKE:
            return "forced new take"
        case Why.NO_PROMPT:
            return f"{name} has no {kind} prompt"
        case Why.MISSING_NOT_ASKED:
            return "missing; include missing assets to make it"
        case Why.UP_TO_DATE:
            return f"{name}'s {kind} is up to date"
        case Why.ALREADY_QUEUED:
            return f"{name}'s {kind} is already queued"
        case Why.NO_IMAGE:
            return f"{NO_IMAGE} ({name.lower()} has none yet)"
        case Why.IMAGE_GONE:
            return f"{NO_IMAGE} ({name.lower()}'s image file is gone; regenerate the image)"
        case Why.IMAGE_STALE:
            return f"{name}'s image is stale; regenerate the image first (or regenerate both)"
    return str(decision.why)


@dataclass
class Plan:
    """The outcome of a request, for a dry run, a CLI summary or a toast."""

    decisions: list[Decision] = field(default_factory=list)

    def _of(self, action: Action) -> list[Decision]:
        return [d for d in self.decisions if d.action is action]

    @property
    def queued(self) -> list[Decision]:
        return self._of(Action.QUEUE)

    @property
    def skipped(self) -> list[Decision]:
        return self._of(Action.SKIP)

    @property
    def refused(self) -> list[Decision]:
        return self._of(Action.REFUSE)

    @property
    def jobs(self) -> list[Job]:
        return [d.job for d in self.queued if d.job is not None]

    @property
    def followed(self) -> list[Job]:
        """Every job this request stands for: the new ones and those already queued."""
        return [
            d.job
            for d in self.decisions
            if d.job is not None and (d.action is Action.QUEUE or d.why is Why.ALREADY_QUEUED)
        ]


@dataclass(frozen=True)
class Request:
    """Which assets to look at, and how eagerly."""

    kinds: Sequence[AssetKind] = KINDS_IMAGES_FIRST
    scene_ids: frozenset[int] | None = None
    include_missing: bool = False
    force: bool = False
    explicit: bool = False
    """The user named the scenes: an asset that cannot be made is refused with a
    reason instead of being skipped quietly."""


@dataclass(frozen=True)
class QueueContext:
    """What a request is judged against: the project's settings and the backend in use."""

    project_name: str
    settings: RenderSettings
    backend: str
    new_key: Callable[[], str] = field(default=lambda: str(uuid.uuid4()))
    new_seed: Callable[[], int] = field(default=lambda: random.randrange(1, SEED_LIMIT))


def asset_inputs(kind: AssetKind, params: dict[str, Any]) -> dict[str, Any]:
    """The part of a job's parameters that staleness compares; the rest is routing."""
    keys = IMAGE_INPUT_KEYS if kind is AssetKind.IMAGE else VIDEO_INPUT_KEYS
    return {key: params[key] for key in keys}


def job_params(scene: Scene, kind: AssetKind, context: QueueContext) -> dict[str, Any]:
    """The frozen snapshot a job runs with: staleness inputs plus routing details."""
    settings = context.settings
    routing = {
        "project": context.project_name,
        "scene": scene.id,
        "position": scene.position,
        "width": settings.width,
        "height": settings.height,
    }
    if kind is AssetKind.IMAGE:
        return {**image_inputs(scene, settings), **routing}
    return {
        **video_inputs(scene, settings),
        **routing,
        "image_file": scene.image.file if scene.image else None,
    }


def decide(
    tx: Tx,
    request: Request,
    context: QueueContext,
    *,
    dry_run: bool,
    present: Present | None = None,
    sink: Callable[[Decision], None] | None = None,
) -> Plan:
    """Judge every asset the request covers and, unless `dry_run`, queue the work.

    `present` says which stored files are on disk: one that is gone counts as
    missing, and its scene's video cannot be made until the still is remade.
    Scenes are read a row at a time, images first, then videos: the order the
    jobs are queued in. A dry run queues nothing, so it reads the scenes once
    and judges both kinds of each in turn; its plan still lists images first.
    With `sink`, each decision goes there instead of into the plan (a dry run's
    in scene order), so a dry run of 100,000 scenes keeps none of them.
    """
    active: dict[tuple[int, AssetKind], list[Job]] = {}
    for job in tx.active_jobs(None if request.scene_ids is None else request.scene_ids):
        active.setdefault((job.scene_id, job.kind), []).append(job)
    plan = Plan()
    keep = sink or plan.decisions.append
    queued_images: dict[int, int | None] = {}
    """Scenes whose image this request queues (None in a dry run: no id yet)."""
    if dry_run:
        videos: list[Decision] = []
        later = sink or videos.append
        scenes = tx.iter_scenes() if request.scene_ids is None else tx.scenes(request.scene_ids)
        for scene in scenes:
            for kind in KINDS_IMAGES_FIRST:
                if kind not in request.kinds:
                    continue
                decision = _decide_one(
                    scene, kind, request, context, active, queued_images, present
                )
                if kind is AssetKind.IMAGE:
                    if decision.action is Action.QUEUE:
                        queued_images[scene.id] = None
                    keep(decision)
                else:
                    later(decision)
        plan.decisions.extend(videos)
        return plan
    for kind in KINDS_IMAGES_FIRST:
        if kind not in request.kinds:
            continue
        scenes = tx.iter_scenes() if request.scene_ids is None else tx.scenes(request.scene_ids)
        for scene in scenes:
            decision = _decide_one(scene, kind, request, context, active, queued_images, present)
            if decision.action is not Action.QUEUE:
                keep(decision)
                continue
            keep(_queue(tx, decision, context, active, queued_images))
    return plan


def _decide_one(
    scene: Scene,
    kind: AssetKind,
    request: Request,
    context: QueueContext,
    active: dict[tuple[int, AssetKind], list[Job]],
    queued_images: dict[int, int | None],
    present: Present | None,
) -> Decision:
    settings = context.settings
    state = asset_state(scene, kind, settings, present)
    refuse_or_skip = Action.REFUSE if request.explicit else Action.SKIP
    if state is AssetState.NONE:
        return Decision(scene, kind, refuse_or_skip, Why.NO_PROMPT)
    if state is AssetState.MISSING and not (request.include_missing or request.explicit):
        return Decision(scene, kind, Action.SKIP, Why.MISSING_NOT_ASKED)
    if state is AssetState.CLEAN and not request.force:
        return Decision(scene, kind, Action.SKIP, Why.UP_TO_DATE)
    if kind is AssetKind.VIDEO:
        image_coming = scene.id in queued_images or bool(active.get((scene.id, AssetKind.IMAGE)))
        if not image_coming:
            if scene.image is None:
                return Decision(scene, kind, refuse_or_skip, Why.NO_IMAGE)
            if gone(scene.image, present):
                return Decision(scene, kind, refuse_or_skip, Why.IMAGE_GONE)
            if asset_state(scene, AssetKind.IMAGE, settings) is AssetState.DIRTY:
                return Decision(scene, kind, refuse_or_skip, Why.IMAGE_STALE)
    if state is AssetState.CLEAN:
        return Decision(scene, kind, Action.QUEUE, Why.NEW_TAKE)
    if state is AssetState.MISSING:
        missing = Why.GONE if scene.asset(kind) is not None else Why.MISSING
        return Decision(scene, kind, Action.QUEUE, missing)
    lines = why(scene, settings, present).get(kind, [])
    return Decision(scene, kind, Action.QUEUE, Why.DIRTY, "; ".join(lines))


def _queue(
    tx: Tx,
    decision: Decision,
    context: QueueContext,
    active: dict[tuple[int, AssetKind], list[Job]],
    queued_images: dict[int, int | None],
) -> Decision:
    scene, kind = decision.scene, decision.kind
    params = job_params(scene, kind, context)
    if kind is AssetKind.IMAGE and decision.why is Why.NEW_TAKE:
        params["seed"] = context.new_seed()
        params[TAKE_FROM_SEED] = scene.seed
    params_hash = fingerprint(params)
    mine = active.get((scene.id, kind), [])
    same = next((job for job in mine if job.params_hash == params_hash), None)
    if same is not None:
        if kind is AssetKind.IMAGE:
            queued_images[scene.id] = same.id
        return Decision(scene, kind, Action.SKIP, Why.ALREADY_QUEUED, job=same)
    depends_on = None
    if kind is AssetKind.VIDEO:
        depends_on = queued_images.get(scene.id)
        if depends_on is None:
            images = active.get((scene.id, AssetKind.IMAGE), [])
            depends_on = images[-1].id if images else None
    for old in mine:
        tx.end_job(old.id, JobState.SUPERSEDED)
    job = tx.insert_job(
        scene_id=scene.id,
        kind=kind,
        params=params,
        params_hash=params_hash,
        backend=context.backend,
        backend_job_id=context.new_key(),
        depends_on=depends_on,
    )
    active[(scene.id, kind)] = [job]
    if kind is AssetKind.IMAGE:
        queued_images[scene.id] = job.id
        # A video still waiting in the queue now waits for the newer image instead.
        for video in active.get((scene.id, AssetKind.VIDEO), []):
            if video.state is JobState.QUEUED and video.depends_on != job.id:
                tx.set_job(video.id, expect={JobState.QUEUED}, depends_on=job.id)
    return Decision(scene, kind, Action.QUEUE, decision.why, decision.detail, job)


async def queue(
    store: ProjectStore,
    request: Request,
    context: QueueContext,
    *,
    dry_run: bool = False,
    sink: Callable[[Decision], None] | None = None,
) -> Plan:
    """Decide and (unless `dry_run`) queue, in one transaction.

    The asset folders are looked at first (a few `stat`s unless one changed), so a
    file deleted since the last look is remade as missing, never assumed there.
    """
    await asyncio.to_thread(store.files.refresh)
    present = store.files.has
    if dry_run:
        return await store.read(
            lambda tx: decide(tx, request, context, dry_run=True, present=present, sink=sink)
        )
    return await store.atomically(
        lambda tx: decide(tx, request, context, dry_run=False, present=present, sink=sink)
    )


def cancel_jobs(tx: Tx, scene_id: int | None = None, kind: AssetKind | None = None) -> list[Job]:
    """Cancel active jobs (of one scene, or all); returns every job that ended."""
    scope = None if scene_id is None else [scene_id]
    ended: list[Job] = []
    for job in tx.active_jobs(scope):
        if kind is None or job.kind is kind:
            ended.extend(tx.end_job(job.id, JobState.CANCELLED))
    return ended


async def cancel(
    store: ProjectStore, scene_id: int | None = None, kind: AssetKind | None = None
) -> list[Job]:
    return await store.atomically(lambda tx: cancel_jobs(tx, scene_id, kind))


async def cancel_ids(store: ProjectStore, job_ids: Iterable[int]) -> list[Job]:
    """Cancel the named jobs that are still active (a CLI batch cancelled by Ctrl-C)."""
    wanted = list(job_ids)

    def work(tx: Tx) -> list[Job]:
        ended: list[Job] = []
        for job_id in wanted:
            ended.extend(tx.end_job(job_id, JobState.CANCELLED))
        return ended

    return await store.atomically(work)


def scene_ids_of(ids: Iterable[int] | None) -> frozenset[int] | None:
    return None if ids is None else frozenset(ids)
