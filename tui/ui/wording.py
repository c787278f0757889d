"""What the screen says about requests and finished runs: the one place for toast wording."""

from __future__ import annotations

from collections.abc import Sequence

from tui.domain.models import AssetKind
from tui.ui.model import RunSummary
from tui.ui.session import Outcome, RequestResult
from tui.ui.text import plural


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
            " press a to regenerate both."
        )
    return text


def finished_text(summary: RunSummary) -> str | None:
    """One closing toast for a run of more than one job."""
    if summary.succeeded + summary.failed <= 1:
        return None
    made = [
        plural(count, noun)
        for count, noun in ((summary.images, "image"), (summary.videos, "video"))
        if count
    ]
    text = f"Finished: {' and '.join(made) or 'nothing'} made"
    if summary.failed:
        text += f"; {summary.failed} failed"
    return text
