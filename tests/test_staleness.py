"""Prompt-change detection and the dirty cascade, straight from the seed story's criteria."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tui.domain.camera import CameraMovement
from tui.domain.models import Asset, AssetKind, AssetState, RenderSettings, Scene
from tui.domain.staleness import (
    Reason,
    fingerprint,
    image_inputs,
    reasons,
    scene_status,
    video_inputs,
    video_inputs_from,
    why,
)

SETTINGS = RenderSettings(width=832, height=480, fps=16)
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def base_scene(**changes: Any) -> Scene:
    scene = Scene(
        id=1,
        position=1,
        narration="A lighthouse at dusk.",
        audio_duration=3.1,
        image_prompt="a lighthouse",
        negative_prompt="blurry",
        seed=7,
        video_prompt="waves",
        camera=CameraMovement.STATIC,
        motion=0.5,
    )
    return scene.model_copy(update=changes)


def regenerate_image(scene: Scene, content: str = "take-1") -> Scene:
    image = Asset(
        kind=AssetKind.IMAGE,
        file="assets/images/a.png",
        content_hash=fingerprint({"content": content}),
        inputs=image_inputs(scene, SETTINGS),
        created=NOW,
    )
    return scene.model_copy(update={"image": image})


def regenerate_video(scene: Scene) -> Scene:
    assert scene.image is not None
    video = Asset(
        kind=AssetKind.VIDEO,
        file="assets/videos/a.mp4",
        content_hash="v",
        inputs=video_inputs_from(scene, SETTINGS, scene.image),
        created=NOW,
    )
    return scene.model_copy(update={"video": video})


def clean_scene(**changes: Any) -> Scene:
    return regenerate_video(regenerate_image(base_scene(**changes)))


def states(scene: Scene) -> tuple[AssetState, AssetState]:
    status = scene_status(scene, SETTINGS)
    return status.image, status.video


def test_fresh_assets_are_clean() -> None:
    assert states(clean_scene()) == (AssetState.CLEAN, AssetState.CLEAN)


def test_image_prompt_edit_marks_image_and_video_dirty() -> None:
    scene = clean_scene().model_copy(update={"image_prompt": "a lighthouse in fog"})
    assert states(scene) == (AssetState.DIRTY, AssetState.DIRTY)
    reasons = why(scene, SETTINGS)
    assert reasons[AssetKind.IMAGE] == ["image prompt changed"]
    assert reasons[AssetKind.VIDEO] == ["image is stale: image prompt changed"]


def test_negative_prompt_and_seed_edits_cascade_like_the_prompt() -> None:
    for change in ({"negative_prompt": "dark"}, {"seed": 8}):
        scene = clean_scene().model_copy(update=change)
        assert states(scene) == (AssetState.DIRTY, AssetState.DIRTY), change


def test_video_prompt_edit_marks_only_video_dirty() -> None:
    scene = clean_scene().model_copy(update={"video_prompt": "calm waves"})
    assert states(scene) == (AssetState.CLEAN, AssetState.DIRTY)
    assert why(scene, SETTINGS)[AssetKind.VIDEO] == ["video prompt changed"]


def test_camera_edit_marks_only_video_dirty() -> None:
    scene = clean_scene().model_copy(update={"camera": CameraMovement.PAN_LEFT})
    assert states(scene) == (AssetState.CLEAN, AssetState.DIRTY)
    assert why(scene, SETTINGS)[AssetKind.VIDEO] == ["camera: Static → Pan left"]


def test_motion_edit_marks_only_video_dirty() -> None:
    scene = clean_scene().model_copy(update={"motion": 0.75})
    assert states(scene) == (AssetState.CLEAN, AssetState.DIRTY)
    assert why(scene, SETTINGS)[AssetKind.VIDEO] == ["motion: 0.50 → 0.75"]


def test_audio_duration_edit_marks_only_video_dirty() -> None:
    scene = clean_scene().model_copy(update={"audio_duration": 4.2})
    assert states(scene) == (AssetState.CLEAN, AssetState.DIRTY)
    assert why(scene, SETTINGS)[AssetKind.VIDEO] == ["narration now 4.2 s, was 3.1 s"]


def test_new_image_marks_video_dirty() -> None:
    scene = regenerate_image(clean_scene(), content="take-2")
    assert states(scene) == (AssetState.CLEAN, AssetState.DIRTY)
    assert why(scene, SETTINGS)[AssetKind.VIDEO] == ["image was regenerated"]


def test_video_remade_from_new_image_is_clean() -> None:
    scene = regenerate_video(regenerate_image(clean_scene(), content="take-2"))
    assert states(scene) == (AssetState.CLEAN, AssetState.CLEAN)


def test_reverting_an_edit_makes_assets_clean_again() -> None:
    original = clean_scene()
    edited = original.model_copy(
        update={"image_prompt": "changed", "camera": CameraMovement.ZOOM_IN}
    )
    assert states(edited) == (AssetState.DIRTY, AssetState.DIRTY)
    reverted = edited.model_copy(
        update={"image_prompt": original.image_prompt, "camera": original.camera}
    )
    assert states(reverted) == (AssetState.CLEAN, AssetState.CLEAN)


def test_setting_a_field_to_its_current_value_changes_nothing() -> None:
    scene = clean_scene()
    same = scene.model_copy(update={"image_prompt": scene.image_prompt, "motion": 0.5})
    assert states(same) == states(scene) == (AssetState.CLEAN, AssetState.CLEAN)
    assert why(same, SETTINGS) == {AssetKind.IMAGE: [], AssetKind.VIDEO: []}


def test_workflow_change_marks_assets_dirty() -> None:
    scene = clean_scene()
    comfy = SETTINGS.model_copy(update={"image_workflow": "comfyui:sd15@abc"})
    status = scene_status(scene, comfy)
    assert (status.image, status.video) == (AssetState.DIRTY, AssetState.DIRTY)
    assert why(scene, comfy)[AssetKind.IMAGE] == ["image workflow changed"]
    assert reasons(scene, comfy)[AssetKind.IMAGE] == [
        Reason("image workflow changed", "draft-image/1 → comfyui:sd15@abc")
    ]


def test_missing_and_none_states() -> None:
    scene = base_scene()
    assert states(scene) == (AssetState.MISSING, AssetState.MISSING)
    assert why(scene, SETTINGS) == {
        AssetKind.IMAGE: ["no image yet"],
        AssetKind.VIDEO: ["no video yet"],
    }
    empty = base_scene(image_prompt="  ", video_prompt="")
    assert states(empty) == (AssetState.NONE, AssetState.NONE)


def test_video_inputs_name_the_current_still() -> None:
    scene = regenerate_image(base_scene())
    assert scene.image is not None
    inputs = video_inputs(scene, SETTINGS)
    assert inputs["image_hash"] == scene.image.content_hash
    assert inputs["image_inputs"] == fingerprint(image_inputs(scene, SETTINGS))


def test_fingerprint_ignores_key_order() -> None:
    assert fingerprint({"a": 1, "b": "x"}) == fingerprint({"b": "x", "a": 1})
    assert fingerprint({"a": 1}) != fingerprint({"a": 2})


# -- the property: dirty exactly when the snapshot differs from the current inputs --

EDITS = st.one_of(
    st.tuples(st.just("image_prompt"), st.sampled_from(["a", "b", "c"])),
    st.tuples(st.just("negative_prompt"), st.sampled_from(["", "blurry"])),
    st.tuples(st.just("seed"), st.integers(0, 3)),
    st.tuples(st.just("video_prompt"), st.sampled_from(["x", "y"])),
    st.tuples(st.just("camera"), st.sampled_from(list(CameraMovement))),
    st.tuples(st.just("motion"), st.sampled_from([0.0, 0.25, 0.5])),
    st.tuples(st.just("audio_duration"), st.sampled_from([1.0, 2.5])),
    st.tuples(st.just("regen"), st.sampled_from(["image", "video"])),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(EDITS, max_size=25))
def test_dirty_exactly_when_snapshot_differs(steps: list[tuple[str, Any]]) -> None:
    scene = base_scene(image_prompt="a", video_prompt="x", seed=0)
    takes = 0
    for field, value in steps:
        if field == "regen":
            if value == "image":
                takes += 1
                scene = regenerate_image(scene, content=f"take-{takes}")
            elif scene.image is not None:
                scene = regenerate_video(scene)
        else:
            scene = scene.model_copy(update={field: value})
        status = scene_status(scene, SETTINGS)
        for kind, current in (
            (AssetKind.IMAGE, image_inputs(scene, SETTINGS)),
            (AssetKind.VIDEO, video_inputs(scene, SETTINGS)),
        ):
            asset = scene.asset(kind)
            if asset is None:
                assert status.of(kind) in (AssetState.MISSING, AssetState.NONE)
                continue
            expected = AssetState.DIRTY if asset.inputs != current else AssetState.CLEAN
            assert status.of(kind) is expected
            # The reasons are empty exactly when the asset is clean.
            assert (why(scene, SETTINGS)[kind] == []) == (expected is AssetState.CLEAN)
        # The cascade: a stale still always means a stale clip.
        if status.image is AssetState.DIRTY and scene.video is not None:
            assert status.video is AssetState.DIRTY
