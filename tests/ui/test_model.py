"""The screen's plain-Python view model, and the text helpers: no app, so these run fast."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from tests.ui.helpers import build_project, make_app, ready, screen_text
from tui.domain.jobs import Job, JobState
from tui.domain.models import AssetKind
from tui.engine.events import JobFailed, JobProgress, JobQueued, JobStarted, JobSucceeded
from tui.ui.model import Badge, JobBoard
from tui.ui.text import duration, fit, one_line, plain


def job(job_id: int, scene_id: int, kind: AssetKind = AssetKind.IMAGE) -> Job:
    now = datetime.now(UTC)
    return Job(
        id=job_id,
        scene_id=scene_id,
        kind=kind,
        params={},
        params_hash="h",
        backend="draft",
        backend_job_id=f"k{job_id}",
        created=now,
        updated=now,
    )


def test_queue_positions_follow_the_queue() -> None:
    board = JobBoard(clock=lambda: 0.0)
    for n in (1, 2, 3):
        board.apply(JobQueued(job(n, 10 + n)))
    assert [board.queue_position(n) for n in (1, 2, 3)] == [1, 2, 3]
    board.apply(JobStarted(job(1, 11).model_copy(update={"state": JobState.RUNNING})))
    assert board.queue_position(1) is None
    assert board.queue_position(3) == 2
    badge = board.badge(11)
    assert badge is not None and badge.queue_position is None and badge.fraction == 0.0


def test_run_progress_counts_done_and_partial_work() -> None:
    clock = [100.0]
    board = JobBoard(clock=lambda: clock[0])
    board.apply(JobQueued(job(1, 1)))
    board.apply(JobQueued(job(2, 2, AssetKind.VIDEO)))
    board.apply(JobProgress(job(1, 1), 1, 2, 0.5))
    clock[0] = 110.0
    run = board.run()
    assert run is not None
    assert (run.images, run.videos, run.done, run.total) == (1, 1, 0, 2)
    assert run.fraction == 0.25
    assert run.seconds_left == 30.0  # 10 s for a quarter
    board.apply(JobSucceeded(job(1, 1), scene=None, file="x"))  # type: ignore[arg-type]
    board.apply(JobFailed(job(2, 2, AssetKind.VIDEO), "boom"))
    summary = board.finish_run()
    assert summary is not None and (summary.images, summary.failed) == (1, 1)
    assert board.run() is None


def test_text_is_made_safe_and_fits() -> None:
    assert plain("a\x1b[31mb") == "a␛[31mb"
    assert plain("x\ny", multiline=True) == "x\ny"
    assert one_line("two\nlines\x07") == "two lines␇"
    assert fit("abcdef", 4) == "abc…"
    assert fit("ab", 4) == "ab  "
    assert duration(75) == "1 min 15 s"


async def test_list_is_virtual_no_widget_per_scene(tmp_path: Path) -> None:
    """2,000 scenes mount a handful of widgets, and the last scene is one key away."""
    root = await build_project(tmp_path / "big", 2000, assets=False)
    app = make_app(root)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await ready(pilot)
        assert len(list(app.screen.query("*"))) < 80
        await pilot.press("end")
        assert screen.board is not None
        assert screen.scene_list.highlighted == screen.board.order[-1]
        assert "Sentence number 2000 of the story." in screen_text(app)


def test_a_badge_is_drawn_again_only_when_what_it_shows_moves() -> None:
    """In a flood of progress a running job's fraction moves on every event, but its line
    shows a whole percent and a 6-cell bar: steps inside one percent look the same (the
    line is neither drawn nor cached again); a new percent, bar cell, queue place or
    count of jobs behind does not."""
    from tui.ui.widgets.scene_list import badge_look

    def running(fraction: float, more: int = 0) -> Badge:
        return Badge(AssetKind.IMAGE, None, fraction, more)

    assert badge_look(running(0.4410)) == badge_look(running(0.4449))
    assert badge_look(running(0.4449)) != badge_look(running(0.4451))  # 44% → 45%
    assert badge_look(running(0.0830)) != badge_look(running(0.0834))  # 8%, 0 → 1 bar cell
    assert badge_look(running(0.5)) != badge_look(running(0.5, more=1))
    assert badge_look(Badge(AssetKind.IMAGE, 3, 0.0)) != badge_look(Badge(AssetKind.IMAGE, 2, 0.0))
    assert badge_look(running(0.5)) != badge_look(Badge(AssetKind.VIDEO, None, 0.5))
    assert badge_look(None) is None
