"""The rough cut's fingerprint and its "why stale" lines, from real Scene models."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from tui.domain.cut import (
    CutInputs,
    CutState,
    cut_inputs,
    cut_state,
    cut_status_line,
    fingerprint,
    why_cut,
)
from tui.domain.models import Asset, AssetKind, Scene

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def asset(kind: AssetKind, content: str) -> Asset:
    return Asset(
        kind=kind,
        file=f"assets/{kind.value}/{content}",
        content_hash=content,
        inputs={},
        created=NOW,
    )


def scene(
    scene_id: int,
    position: int | None = None,
    *,
    duration: float = 3.0,
    clip: str | None = None,
    still: str | None = None,
    narration: str | None = None,
) -> Scene:
    return Scene(
        id=scene_id,
        position=position if position is not None else scene_id,
        narration=narration if narration is not None else f"Sentence {scene_id}.",
        audio_duration=duration,
        image=asset(AssetKind.IMAGE, still) if still else None,
        video=asset(AssetKind.VIDEO, clip) if clip else None,
    )


def film(
    scenes: list[Scene],
    audio: dict[int, str | None] | None = None,
    fps: int = 16,
    size: tuple[int, int] = (832, 480),
) -> CutInputs:
    return cut_inputs(scenes, width=size[0], height=size[1], fps=fps, audio_hashes=audio)


BASE = [
    scene(1, clip="c1", still="s1"),
    scene(2, clip="c2", still="s2"),
    scene(3, clip="c3", still="s3"),
    scene(4, still="s4"),
    scene(5),
    scene(6, clip="c6", still="s6", duration=3.1),
]


def test_inputs_pick_clip_then_still_then_title_in_position_order() -> None:
    shuffled = [
        BASE[2].model_copy(update={"position": 1}),
        BASE[0].model_copy(update={"position": 2}),
    ]
    inputs = film(BASE)
    assert [s["visual"] for s in inputs["scenes"]] == [
        "clip",
        "clip",
        "clip",
        "still",
        "title",
        "clip",
    ]
    assert inputs["scenes"][3]["ref"] == "s4"
    assert inputs["scenes"][4]["ref"] == "Sentence 5."
    assert [s["id"] for s in film(shuffled)["scenes"]] == [3, 1]
    # JSON as it stands: the store keeps it in a column and compares it later.
    assert json.loads(json.dumps(inputs)) == inputs


def test_fingerprint_is_stable_and_moves_with_every_input() -> None:
    inputs = film(BASE, {2: "a2"})
    again = film(list(BASE), {2: "a2"})
    assert fingerprint(inputs) == fingerprint(again)
    variants = [
        film(BASE, {2: "a2-new"}),
        film(BASE, {2: "a2"}, fps=24),
        film(BASE, {2: "a2"}, size=(1280, 720)),
        film([*BASE[:5], scene(6, clip="c6-new", still="s6", duration=3.1)], {2: "a2"}),
        film([*BASE[:5], scene(6, clip="c6", still="s6", duration=4.2)], {2: "a2"}),
        film(BASE[:5], {2: "a2"}),
    ]
    prints = {fingerprint(v) for v in variants}
    assert fingerprint(inputs) not in prints
    assert len(prints) == len(variants)


def test_the_issue_example_status_line() -> None:
    old = film(BASE)
    new = film(
        [
            *BASE[:2],
            scene(3, clip="c3-take2", still="s3"),
            *BASE[3:5],
            scene(6, clip="c6", still="s6", duration=4.2),
        ]
    )
    assert why_cut(old, new) == ["scene 3 clip changed", "scene 6 narration now 4.2 s, was 3.1 s"]
    assert cut_status_line(old, new) == (
        "cut: stale (scene 3 clip changed, scene 6 narration now 4.2 s, was 3.1 s)"
    )
    assert cut_state(old, new) is CutState.STALE


def test_reverting_an_edit_makes_the_cut_clean_again() -> None:
    old = film(BASE)
    edited = film([*BASE[:2], scene(3, clip="c3-take2", still="s3"), *BASE[3:]])
    assert cut_state(old, edited) is CutState.STALE
    assert cut_state(old, film(BASE)) is CutState.CLEAN
    assert why_cut(old, film(BASE)) == []
    assert cut_status_line(old, film(BASE)) == "cut: up to date"


def test_added_removed_and_reordered_scenes() -> None:
    old = film(BASE[:4])
    added = film([*BASE[:4], scene(7, 5, clip="c7")])
    assert why_cut(old, added) == ["scene 5 added"]
    removed = film(
        [
            BASE[0],
            BASE[2].model_copy(update={"position": 2}),
            BASE[3].model_copy(update={"position": 3}),
        ]
    )
    assert why_cut(old, removed) == ["scene 2 removed"]
    swapped = film(
        [
            BASE[1].model_copy(update={"position": 1}),
            BASE[0].model_copy(update={"position": 2}),
            *BASE[2:4],
        ]
    )
    assert why_cut(old, swapped) == ["scenes reordered"]


def test_picture_kind_audio_and_format_lines() -> None:
    old = film(BASE, {1: "a1", 2: "a2"}, fps=16)
    new = film(
        [
            scene(1, clip="c1", still="s1"),
            scene(2, clip="c2", still="s2"),
            scene(3, still="s3"),  # its clip was deleted: the still stands in
            scene(4, clip="c4", still="s4"),  # a clip was made
            scene(5, narration="A new sentence."),  # the title card's words
            scene(6, clip="c6", still="s6", duration=3.1),
        ],
        {1: "a1-new", 6: "a6"},
        fps=24,
        size=(1280, 720),
    )
    assert why_cut(old, new) == [
        "size 832×480 → 1280×720",
        "fps 16 → 24",
        "scene 1 narration audio changed",
        "scene 2 narration audio removed",
        "scene 3 now a still, was a clip",
        "scene 4 now a clip, was a still",
        "scene 5 title card changed",
        "scene 6 narration audio added",
    ]
    line = cut_status_line(old, new)
    assert (
        line == "cut: stale (size 832×480 → 1280×720, fps 16 → 24, "
        "scene 1 narration audio changed, and 5 more)"
    )


def test_positions_name_scenes_as_the_creator_sees_them() -> None:
    old = film(BASE[:2])
    new = film([BASE[0], scene(2, clip="c2-new", still="s2")])
    assert why_cut(old, new, positions={2: 9}) == ["scene 9 clip changed"]


def test_no_cut_yet_and_no_scenes() -> None:
    assert cut_state(None, film(BASE)) is CutState.MISSING
    assert why_cut(None, film(BASE)) == ["no cut yet"]
    assert cut_status_line(None, film(BASE)) == "cut: missing (not exported yet)"
    empty = film([])
    assert cut_state(None, empty) is CutState.NONE
    assert cut_status_line(film(BASE), empty) == "cut: none (no scenes)"


def test_durations_say_as_many_decimals_as_they_have() -> None:
    old = film([scene(1, duration=4.0)])
    assert why_cut(old, film([scene(1, duration=4.25)])) == [
        "scene 1 narration now 4.25 s, was 4.0 s"
    ]


def test_a_stored_snapshot_from_json_with_a_missing_key_reads_as_changed() -> None:
    stored = json.loads(json.dumps(film(BASE[:1])))
    del stored["scenes"][0]["audio"]
    stored["scenes"][0]["audio"] = "gone"
    assert cut_state(stored, film(BASE[:1])) is CutState.STALE
    assert why_cut(stored, film(BASE[:1])) == ["scene 1 narration audio removed"]


@settings(max_examples=60, deadline=None)
@given(
    durations=st.lists(
        st.floats(min_value=0, max_value=60, allow_nan=False), min_size=1, max_size=8
    ),
    changed=st.integers(min_value=0, max_value=7),
)
def test_stale_exactly_when_why_says_something(durations: list[float], changed: int) -> None:
    scenes = [scene(i + 1, duration=d, clip=f"c{i}") for i, d in enumerate(durations)]
    old = film(scenes)
    index = changed % len(scenes)
    edited = list(scenes)
    edited[index] = scene(index + 1, duration=scenes[index].audio_duration + 0.5, clip=f"c{index}")
    new = film(edited)
    assert cut_state(old, new) is CutState.STALE
    assert why_cut(old, new) == [
        f"scene {index + 1} narration now "
        f"{_fmt(edited[index].audio_duration)} s, was {_fmt(scenes[index].audio_duration)} s"
    ]
    assert (cut_state(old, film(scenes)) is CutState.CLEAN) and why_cut(old, film(scenes)) == []


def _fmt(value: float) -> str:
    text = f"{value:.3f}".rstrip("0")
    return text + "0" if text.endswith(".") else text
