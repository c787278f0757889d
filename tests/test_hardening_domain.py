"""Domain rules from the hardening and daily-loop issues: prompts, reasons, numbers, bounds."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from tui.domain.camera import CAMERA_LABELS, CAMERA_OPTIONS, CameraMovement
from tui.domain.edits import EditError, normalize, parse_assignment
from tui.domain.models import (
    MAX_SCENE_SECONDS,
    Asset,
    AssetKind,
    AssetState,
    RenderSettings,
    Scene,
    scene_seconds_limit,
    set_scene_seconds_limit,
)
from tui.domain.staleness import (
    Reason,
    fingerprint,
    image_inputs,
    reasons,
    scene_status,
    video_inputs_from,
    why,
)

SETTINGS = RenderSettings(width=832, height=480, fps=16)
NOW = datetime(2026, 1, 1, tzinfo=UTC)
IMAGE, VIDEO = AssetKind.IMAGE, AssetKind.VIDEO


def scene(**changes: Any) -> Scene:
    base = Scene(
        id=3,
        position=3,
        narration="The keeper climbs the stairs.",
        audio_duration=3.1,
        image_prompt="a lighthouse",
        negative_prompt="blurry",
        seed=7,
        video_prompt="waves",
        camera=CameraMovement.PAN_UP,
        motion=0.5,
    )
    return base.model_copy(update=changes)


def with_image(current: Scene, inputs: dict[str, Any] | None = None) -> Scene:
    image = Asset(
        kind=IMAGE,
        file="assets/images/scene-0003-1a2b3c4d.png",
        content_hash="still-1",
        inputs=inputs if inputs is not None else image_inputs(current, SETTINGS),
        created=NOW,
    )
    return current.model_copy(update={"image": image})


def with_video(current: Scene, inputs: dict[str, Any] | None = None) -> Scene:
    assert current.image is not None
    made = video_inputs_from(current, SETTINGS, current.image)
    video = Asset(
        kind=VIDEO,
        file="assets/videos/scene-0003-5e6f7a8b.mp4",
        content_hash="clip-1",
        inputs=inputs if inputs is not None else made,
        created=NOW,
    )
    return current.model_copy(update={"video": video})


def states(current: Scene) -> tuple[AssetState, AssetState]:
    status = scene_status(current, SETTINGS)
    return status.image, status.video


# -- Issue 12 item 4: whitespace around a prompt is not part of it ---------------------


def test_an_enter_at_the_end_of_a_prompt_dirties_nothing() -> None:
    """Issue 12 item 4: a trailing newline (Enter) or leading spaces leave the assets clean."""
    clean = with_video(with_image(scene()))
    for edit in (
        {"image_prompt": "a lighthouse\n"},
        {"image_prompt": "  a lighthouse \t"},
        {"negative_prompt": "blurry\n"},
        {"video_prompt": "\nwaves\n\n"},
    ):
        edited = clean.model_copy(update=edit)
        assert states(edited) == (AssetState.CLEAN, AssetState.CLEAN), edit
        assert why(edited, SETTINGS) == {IMAGE: [], VIDEO: []}


def test_a_stored_snapshot_with_whitespace_stays_clean() -> None:
    """Issue 12 item 4: a project whose assets were made (before the trim) from a prompt
    with a trailing newline does not turn dirty, neither the image nor the video."""
    typed = scene(image_prompt="a lighthouse\n", video_prompt="waves\n")
    old_image = {**image_inputs(typed, SETTINGS), "image_prompt": "a lighthouse\n"}
    made = with_image(typed, old_image)
    assert made.image is not None
    old_video = {
        **video_inputs_from(made, SETTINGS, made.image),
        "video_prompt": "waves\n",
        "image_inputs": fingerprint(old_image),  # what the old code recorded
    }
    old = with_video(made, old_video)
    assert states(old) == (AssetState.CLEAN, AssetState.CLEAN)
    trimmed = old.model_copy(update={"image_prompt": "a lighthouse", "video_prompt": "waves"})
    assert states(trimmed) == (AssetState.CLEAN, AssetState.CLEAN)
    changed = old.model_copy(update={"image_prompt": "a lighthouse in fog"})
    assert states(changed) == (AssetState.DIRTY, AssetState.DIRTY)


def test_the_inputs_a_job_is_made_from_are_trimmed() -> None:
    """Issue 12 item 4: the backend gets the prompt without its stray whitespace."""
    typed = scene(image_prompt="\n a lighthouse \n", negative_prompt=" dark ")
    inputs = image_inputs(typed, SETTINGS)
    assert (inputs["image_prompt"], inputs["negative_prompt"]) == ("a lighthouse", "dark")


# -- Issue 12 item 16: why-dirty in the creator's words ---------------------------------


def test_camera_reasons_use_the_labels_of_the_camera_menu() -> None:
    """Issue 12 item 16: "camera: Pan up → Pan left", not pan_up, in the TUI's own labels."""
    edited = with_video(with_image(scene())).model_copy(update={"camera": CameraMovement.PAN_LEFT})
    assert why(edited, SETTINGS)[VIDEO] == ["camera: Pan up → Pan left"]
    assert [label for label, _ in CAMERA_OPTIONS] == [CAMERA_LABELS[m] for m in CameraMovement]


def test_the_tui_camera_menu_shows_the_same_labels() -> None:
    """Issue 12 item 16: one source of camera labels; the inspector's Select agrees."""
    from tui.ui.widgets.inspector import CAMERA_OPTIONS as SHOWN

    assert [(label, move) for label, move in SHOWN] == list(CAMERA_OPTIONS)


def test_a_workflow_change_reads_as_words_with_the_detail_apart() -> None:
    """Issue 12 item 16: "image workflow changed", the ids only as detail."""
    clean = with_video(with_image(scene()))
    comfy = SETTINGS.model_copy(
        update={"image_workflow": "comfyui:3d4403a45448", "video_workflow": "comfyui:99aa"}
    )
    found = reasons(clean, comfy)
    detail = "draft-image/1 → comfyui:3d4403a45448"
    assert found[IMAGE] == [Reason("image workflow changed", detail)]
    assert Reason("video workflow changed", "draft-video/1 → comfyui:99aa") in found[VIDEO]
    assert why(clean, comfy)[IMAGE] == ["image workflow changed"]
    assert "image is stale: image workflow changed" in why(clean, comfy)[VIDEO]


def test_size_and_frame_rate_read_as_words() -> None:
    """Issue 12 item 16: one "picture size" reason for width and height, fps as frame rate."""
    clean = with_video(with_image(scene()))
    bigger = SETTINGS.model_copy(update={"width": 1024, "height": 576, "fps": 24})
    assert why(clean, bigger)[IMAGE] == ["picture size: 832×480 → 1024×576"]
    assert "frame rate: 16 → 24 fps" in why(clean, bigger)[VIDEO]


def test_durations_show_enough_decimals_to_differ() -> None:
    """Issue 12 item 16: 3.14 s against 3.1 s does not read "now 3.1 s, was 3.1 s"."""
    edited = with_video(with_image(scene())).model_copy(update={"audio_duration": 3.14})
    assert why(edited, SETTINGS)[VIDEO] == ["narration now 3.14 s, was 3.10 s"]


# -- Issue 12 item 18: an empty prompt is state none -------------------------------------


@pytest.mark.parametrize("empty", ["", "   ", "\n\t"])
def test_an_empty_image_prompt_is_none_even_with_a_file(empty: str) -> None:
    """Issue 12 item 18: `set 3 image_prompt=` makes the image `none`, not "up to date";
    the old file is kept, and why says so."""
    made = with_video(with_image(scene()))
    cleared = made.model_copy(update={"image_prompt": empty})
    assert states(cleared)[0] is AssetState.NONE
    assert reasons(cleared, SETTINGS)[IMAGE] == [
        Reason("no image prompt; the old image is kept", "assets/images/scene-0003-1a2b3c4d.png")
    ]
    # The clip was made from the still that is still there: nothing to remake.
    assert states(cleared)[1] is AssetState.CLEAN


def test_an_empty_video_prompt_is_none_even_with_a_file() -> None:
    """Issue 12 item 18: the same for the video."""
    cleared = with_video(with_image(scene())).model_copy(update={"video_prompt": " "})
    assert states(cleared) == (AssetState.CLEAN, AssetState.NONE)
    assert why(cleared, SETTINGS)[VIDEO] == ["no video prompt; the old video is kept"]


def test_no_prompt_and_no_file_is_none_with_no_reasons() -> None:
    """Issue 12 item 18: nothing to make and nothing kept: no reason lines at all
    (a guard: this held before the fix and must still hold)."""
    empty = scene(image_prompt="", video_prompt="")
    assert states(empty) == (AssetState.NONE, AssetState.NONE)
    assert why(empty, SETTINGS) == {IMAGE: [], VIDEO: []}


# -- Issue 14: numbers are ASCII decimals, and -0 is 0 ----------------------------------


@pytest.mark.parametrize(
    ("field", "raw"),
    [
        ("seed", "١٢"),  # Arabic-Indic digits
        ("seed", "１２"),  # fullwidth digits
        ("seed", "1_000"),
        ("seed", "12.0"),
        ("seed", "9" * 5000),  # more digits than int() takes: still one clean line
        ("audio_duration", "1_000"),
        ("audio_duration", "٣.٥"),
        ("audio_duration", "inf"),
        ("audio_duration", "nan"),
        ("motion", "0x1"),
        ("motion", "½"),
        ("motion", True),
    ],
)
def test_only_ascii_decimals_are_numbers(field: str, raw: Any) -> None:
    """Issue 14: `seed=١٢` and `audio_duration=1_000` are refused; ASCII decimal only."""
    with pytest.raises(EditError) as caught:
        normalize(field, raw)
    message = str(caught.value)
    assert message.startswith(field) and "number" in message
    assert "\n" not in message and len(message) < 120


def test_ascii_numbers_with_spaces_signs_and_exponents_still_work() -> None:
    """Issue 14: the plain forms a person types keep working (a guard for the new rule)."""
    assert normalize("seed", " 42 ") == 42
    assert normalize("audio_duration", "4.8") == 4.8
    assert normalize("audio_duration", "+2.5e1") == 25.0
    assert normalize("motion", ".25") == 0.25
    assert parse_assignment("seed=007") == ("seed", 7)


@pytest.mark.parametrize("raw", ["-0", "-0.0", -0.0, "-0e5"])
def test_minus_zero_motion_is_plain_zero(raw: Any) -> None:
    """Issue 14: `motion=-0` is stored and shown as 0.00, not -0.00."""
    value = normalize("motion", raw)
    assert value == 0.0 and math.copysign(1.0, value) == 1.0
    edited = with_video(with_image(scene())).model_copy(update={"motion": value})
    assert why(edited, SETTINGS)[VIDEO] == ["motion: 0.50 → 0.00"]


def test_a_stored_minus_zero_motion_reads_as_zero() -> None:
    """Issue 14: a -0.0 already in a database loads as 0.0."""
    loaded = Scene.model_validate({**scene().model_dump(), "motion": -0.0})
    assert math.copysign(1.0, loaded.motion) == 1.0


def test_text_with_undecodable_bytes_is_refused_in_one_line() -> None:
    """Issue 14: a prompt holding lone surrogates (undecodable argv bytes) is refused,
    rather than crashing the database write."""
    with pytest.raises(EditError, match="image_prompt is not valid text"):
        normalize("image_prompt", "a lighthouse \udcff")


# -- Issue 10 item 8: a scene's duration is bounded --------------------------------------


@pytest.fixture
def restore_limit() -> Iterator[None]:
    before = scene_seconds_limit()
    yield
    set_scene_seconds_limit(before)


@pytest.mark.parametrize("raw", ["4800", "1e9", 1e308, "1e400", "0", 0, "-1", "0.0004", "600.01"])
def test_out_of_range_durations_are_refused(raw: Any) -> None:
    """Issue 10 item 8: over 0 and at most 600 s; milliseconds typed as seconds are refused."""
    with pytest.raises(EditError) as caught:
        normalize("audio_duration", raw)
    assert str(caught.value).startswith("audio_duration must be over 0 and at most 600 seconds")


def test_the_longest_scene_is_accepted() -> None:
    """Issue 10 item 8: the bound itself is a valid duration (a guard against an
    off-by-one in the new rule)."""
    assert MAX_SCENE_SECONDS == 600.0
    assert normalize("audio_duration", "600") == 600.0
    assert normalize("audio_duration", 0.001) == 0.001


@pytest.mark.usefixtures("restore_limit")
def test_the_limit_is_a_setting() -> None:
    """Issue 10 item 8: the limit can be raised (or lowered) once, for every gate."""
    set_scene_seconds_limit(1200)
    assert normalize("audio_duration", "900") == 900.0
    with pytest.raises(EditError, match="at most 1200 seconds"):
        normalize("audio_duration", "1201")
    assert normalize("audio_duration", "900", max_seconds=1000) == 900.0
    with pytest.raises(EditError, match="at most 60 seconds"):
        normalize("audio_duration", "61", max_seconds=60)


@pytest.mark.usefixtures("restore_limit")
@pytest.mark.parametrize("bad", [0, -5, float("nan"), float("inf"), 1e9])
def test_a_nonsense_limit_setting_is_refused(bad: float) -> None:
    """Issue 10 item 8: the setting itself is bounded (over 0, at most a day)."""
    with pytest.raises(ValueError, match="longest scene"):
        set_scene_seconds_limit(bad)
    assert scene_seconds_limit() == MAX_SCENE_SECONDS
