"""What the screen says about requests and finished runs: the one place for toast wording."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from tui.domain.jobs import CutJob, JobState
from tui.domain.models import AssetKind
from tui.engine.events import JobFailed
from tui.ui.model import Board, RunSummary
from tui.ui.session import Outcome, RequestResult
from tui.ui.text import plain, plural

Severity = Literal["information", "warning", "error"]


def severity(result: RequestResult) -> Severity:
    if result.outcome is Outcome.REFUSED:
        return "warning"
    if result.outcome in (Outcome.RUNNER_FAILED, Outcome.ERROR):
        return "error"
    return "information"


def failure_toasts(failures: Sequence[JobFailed], board: Board) -> list[tuple[str, str]]:
    """(title, text) per group of failures with the same kind and message.

    Twelve identical failures are one toast, "12 images failed: …", not twelve
    that bury the screen.
    """
    groups: dict[tuple[AssetKind, str], list[JobFailed]] = {}
    for failure in failures:
        groups.setdefault((failure.job.kind, failure.message), []).append(failure)
    toasts = []
    for (kind, message), members in groups.items():
        text = plain(message, multiline=True)
        if len(members) == 1:
            scene = board.scenes.get(members[0].scene_id)
            title = f"Scene {scene.position}" if scene else ""
            toasts.append((title, f"{kind.value.capitalize()} failed: {text}"))
        else:
            toasts.append(("", f"{plural(len(members), kind.value)} failed: {text}"))
    return toasts


def both_text(result: RequestResult, scene_name: str) -> str | None:
    if result.outcome is Outcome.QUEUED:
        return None
    if result.outcome is Outcome.UP_TO_DATE:
        return f"{scene_name}'s image and video are up to date."
    if result.outcome is Outcome.RUNNER_FAILED:
        return f"Queued, but the runner could not start: {result.message}"
    return result.message


def retry_text(result: RequestResult) -> str:
    if result.outcome is Outcome.QUEUED and result.plan is not None:
        return f"Retrying {plural(len(result.plan.queued), 'failed asset')}."
    if result.outcome is Outcome.UP_TO_DATE:
        return "Nothing has failed."
    return result.message


def regenerate_text(result: RequestResult, scene_name: str, kind: AssetKind) -> str | None:
    """A toast for `i`/`v`; None when the queued job speaks for itself."""
    match result.outcome:
        case Outcome.QUEUED:
            return None
        case Outcome.UP_TO_DATE:
            return (
                f"{scene_name}'s {kind.value} is up to date. For a new take, open the palette "
                f"(ctrl+p) and run “regenerate: new take of this {kind.value}”."
            )
        case Outcome.ALREADY_QUEUED:
            return f"{scene_name}'s {kind.value} is already queued."
        case Outcome.RUNNER_FAILED:
            return f"Queued, but the runner could not start: {result.message}"
    return result.message


def batch_text(result: RequestResult, kinds: Sequence[AssetKind]) -> str:
    """ "Queued 2 image regenerations." plus the videos that wait for their image."""
    if result.outcome is Outcome.RUNNER_FAILED:
        return f"Queued, but the runner could not start: {result.message}"
    if result.plan is None:
        return result.message
    queued = result.plan.queued
    if not queued:
        nouns = " or ".join(f"{kind.value}s" for kind in kinds)
        text = f"No dirty {nouns} to regenerate."
    else:
        parts = []
        for kind in kinds:
            count = sum(1 for decision in queued if decision.kind is kind)
            if count:
                parts.append(plural(count, f"{kind.value} regeneration"))
        text = f"Queued {' and '.join(parts)}."
    waiting = result.waiting_videos
    if waiting:
        text += (
            f" {plural(waiting, 'video')} skipped: the image is stale or missing;"
            " press a for every dirty image and then its video."
        )
    return text


def finished_text(summary: RunSummary) -> str | None:
    """One closing toast for a run of more than one job."""
    if summary.succeeded + summary.failed + summary.cancelled <= 1:
        return None
    made = [
        plural(count, noun)
        for count, noun in ((summary.images, "image"), (summary.videos, "video"))
        if count
    ]
    text = f"Finished: {' and '.join(made) or 'nothing'} made"
    if summary.failed:
        text += f", {summary.failed} failed"
    if summary.cancelled:
        text += f", {summary.cancelled} cancelled"
    return text + "."


def export_text(result: RequestResult) -> str:
    """The toast for `e`: queued, already under way, up to date, or why not."""
    match result.outcome:
        case Outcome.QUEUED:
            return "Exporting the rough cut on the runner; the header shows its progress."
        case Outcome.ALREADY_QUEUED:
            return "The rough cut is already being exported."
        case Outcome.UP_TO_DATE:
            return (
                "The rough cut is up to date: nothing changed since it was made. To make it "
                "again, open the palette (ctrl+p) and run “Export: remake the rough cut”."
            )
        case Outcome.RUNNER_FAILED:
            return f"Queued, but the runner could not start: {result.message}"
    return f"Cannot export: {result.message}"


def exported_text(job: CutJob, film: str | None) -> tuple[str, Severity]:
    """The toast when an export this window followed ends."""
    if job.state is JobState.SUCCEEDED:
        return f"Rough cut exported: {film or job.output}", "information"
    if job.state is JobState.FAILED:
        return f"Export failed: {plain(job.error or 'no reason given')}", "error"
    return "Export cancelled; the old film is as it was.", "warning"
