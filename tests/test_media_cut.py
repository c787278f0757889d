"""The rough cut: real clips, stills and narration in, a real MP4 out, checked by decoding it.

Clip frames are flat greys whose level says which source frame they were, so
each test can see exactly which picture lands on which frame of the film.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import pytest

from tests.media_helpers import (
    decoded_levels,
    index_of,
    level_of,
    mean_level,
    video_packets,
    write_clip,
    write_png,
    write_wav,
)
from tui.media.cut import (
    CutCancelled,
    CutItem,
    CutPlan,
    assemble,
    plan_copy,
    slots,
    srt_text,
    write_srt,
)
from tui.media.errors import MediaError
from tui.media.frames import pil_image

W, H, FPS = 64, 48, 8


def probe(path: Path) -> dict[str, object]:
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        audio = container.streams.audio[0]
        assert video.duration is not None and audio.duration is not None
        assert video.time_base is not None and audio.time_base is not None
        return {
            "video": video.codec_context.name,
            "audio": audio.codec_context.name,
            "size": (video.codec_context.width, video.codec_context.height),
            "fps": video.average_rate,
            "video_seconds": float(video.duration * video.time_base),
            "audio_seconds": float(audio.duration * audio.time_base),
            "rate": audio.codec_context.sample_rate,
        }


def loudness(path: Path) -> list[float]:
    """Peak absolute sample per 1/8 s of the film's audio (decoded, any format)."""
    peaks: list[float] = []
    with av.open(str(path)) as container:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=8_000)
        samples = bytearray()
        for frame in container.decode(audio=0):
            for out in resampler.resample(frame):
                samples += bytes(out.planes[0])[: out.samples * 2]
    values = memoryview(bytes(samples)).cast("h")
    for start in range(0, len(values), 1_000):
        chunk = values[start : start + 1_000]
        peaks.append(max(abs(v) for v in chunk) / 32768 if len(chunk) else 0.0)
    return peaks


# --------------------------------------------------------------------------- the timeline


def test_slots_round_the_running_total_so_nothing_drifts() -> None:
    # 0.3 s at 8 fps is 2.4 frames; rounding each scene would lose 0.4 frame per scene.
    assert slots([0.3] * 5, 8) == [(0, 2), (2, 3), (5, 2), (7, 3), (10, 2)]
    assert sum(count for _, count in slots([0.3] * 100, 8)) == 240
    assert slots([0.0, 1.0], 8) == [(0, 0), (0, 8)]
    with pytest.raises(MediaError):
        slots([-1.0], 8)


def test_srt_cues_follow_the_scene_frames(tmp_path: Path) -> None:
    plan = CutPlan(
        [
            CutItem(1.25, narration="On the last rock\nstood a lighthouse."),
            CutItem(0.5, narration=""),
            CutItem(2.0, narration="Its keeper climbed."),
        ],
        W,
        H,
        FPS,
    )
    assert srt_text(plan) == (
        "1\n00:00:00,000 --> 00:00:01,250\nOn the last rock stood a lighthouse.\n\n"
        "2\n00:00:01,750 --> 00:00:03,750\nIts keeper climbed.\n"
    )
    target = tmp_path / "film.srt"
    write_srt(plan, target)
    assert target.read_text(encoding="utf-8") == srt_text(plan)
    nowhere = tmp_path / "gone" / "film.srt"
    with pytest.raises(MediaError) as caught:
        write_srt(plan, nowhere)
    assert str(caught.value) == f"{nowhere}: cannot be written (No such file or directory)"


# --------------------------------------------------------------------------- re-encoding


def test_clip_still_and_title_card_with_narration_placed_at_each_start(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "c1.mp4", frames=8)
    still = write_png(tmp_path / "s2.png", (230, 230, 230))
    narration = write_wav(tmp_path / "n2.wav", 0.5, rate=16_000)
    plan = CutPlan(
        [
            CutItem(1.0, clip=clip, still=still, narration="One.", label="scene 1"),
            CutItem(0.5, still=still, audio=narration, narration="Two.", label="scene 2"),
            CutItem(0.5, narration="Three, a title card.", label="scene 3"),
        ],
        W,
        H,
        FPS,
    )
    progress: list[tuple[int, int]] = []
    result = assemble(plan, tmp_path / "film.mp4", progress=lambda d, t: progress.append((d, t)))
    assert not result.copied and result.reason == "scene 2 has no clip"
    assert (result.frames, result.seconds, result.slots) == (16, 2.0, [8, 4, 4])
    assert progress[-1] == (16, 16) and progress == sorted(progress)
    info = probe(result.path)
    assert info["video"] == "h264" and info["audio"] == "aac"
    assert info["size"] == (W, H) and info["fps"] == FPS and info["rate"] == 48_000
    assert info["video_seconds"] == pytest.approx(2.0)
    assert info["audio_seconds"] == pytest.approx(2.0, abs=0.03)
    levels = decoded_levels(result.path)
    assert [t for t, _ in levels] == [i / FPS for i in range(16)]
    assert [index_of(level) for _, level in levels[:8]] == list(range(8))
    assert all(level == pytest.approx(230, abs=3) for _, level in levels[8:12])
    assert all(level < 60 for _, level in levels[12:])  # light words on black
    # The narration sounds during scene 2 only: silence, tone, silence.
    loud = loudness(result.path)
    assert max(loud[1:7]) < 0.01
    assert min(loud[9:11]) > 0.2
    assert max(loud[13:15]) < 0.01


def test_a_clip_of_another_size_is_fitted_on_black_bars(tmp_path: Path) -> None:
    wide = write_clip(tmp_path / "wide.mp4", frames=4, size=(96, 40))
    plan = CutPlan([CutItem(0.5, clip=wide, label="scene 1")], W, H, FPS)
    assert plan_copy(plan) == "scene 1: wide.mp4 is 96x40, the film 64x48"
    result = assemble(plan, tmp_path / "film.mp4")
    assert not result.copied
    with av.open(str(result.path)) as container:
        frames = [pil_image(frame) for frame in container.decode(video=0)]
    assert [f.size for f in frames] == [(W, H)] * 4
    for index, image in enumerate(frames):
        assert mean_level(image, (0, 0, W, 8)) < 20  # bar above (64x27 picture, centred)
        assert mean_level(image, (0, 42, W, H)) < 20  # bar below
        assert index_of(mean_level(image, (0, 14, W, 34))) == index


def test_a_clip_at_another_fps_is_resampled_by_time(tmp_path: Path) -> None:
    fast = write_clip(tmp_path / "fast.mp4", frames=16, fps=16)
    plan = CutPlan([CutItem(1.0, clip=fast, label="scene 1")], W, H, FPS)
    assert plan_copy(plan) == "scene 1: fast.mp4 is not at 8 fps"
    result = assemble(plan, tmp_path / "film.mp4")
    levels = decoded_levels(result.path)
    assert len(levels) == 8
    assert [index_of(level) for _, level in levels] == [0, 2, 4, 6, 8, 10, 12, 14]
    slow = write_clip(tmp_path / "slow.mp4", frames=4, fps=4)
    result = assemble(CutPlan([CutItem(1.0, clip=slow)], W, H, FPS), tmp_path / "slow-film.mp4")
    assert [index_of(level) for _, level in decoded_levels(result.path)] == [
        0, 0, 1, 1, 2, 2, 3, 3,
    ]  # fmt: skip


def test_narration_longer_than_the_clip_holds_its_last_frame(tmp_path: Path) -> None:
    """The scene lasts as long as its narration: a 1 s clip under 2 s of audio is padded."""
    clip = write_clip(tmp_path / "c.mp4", frames=8)
    audio = write_wav(tmp_path / "n.wav", 2.0)
    plan = CutPlan([CutItem(2.0, clip=clip, audio=audio)], W, H, FPS)
    result = assemble(plan, tmp_path / "film.mp4", video="encode")
    levels = [index_of(level) for _, level in decoded_levels(result.path)]
    assert levels == [*range(8), *([7] * 8)]
    assert probe(result.path)["audio_seconds"] == pytest.approx(2.0, abs=0.03)
    assert min(loudness(result.path)[1:15]) > 0.2  # the whole narration is heard


def test_narration_longer_than_its_scene_is_cut_at_the_scene_end(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "c.mp4", frames=8)
    audio = write_wav(tmp_path / "n.wav", 3.0)
    plan = CutPlan([CutItem(1.0, clip=clip, audio=audio), CutItem(1.0, clip=clip)], W, H, FPS)
    result = assemble(plan, tmp_path / "film.mp4")
    info = probe(result.path)
    assert info["video_seconds"] == pytest.approx(2.0)
    assert info["audio_seconds"] == pytest.approx(2.0, abs=0.03)
    loud = loudness(result.path)
    assert min(loud[1:7]) > 0.2 and max(loud[9:15]) < 0.01


# --------------------------------------------------------------------------- stream copy


def test_matching_clips_are_copied_packet_for_packet(tmp_path: Path) -> None:
    clips = [write_clip(tmp_path / f"c{i}.mp4", frames=8, start_index=i * 8) for i in range(3)]
    plan = CutPlan(
        [CutItem(1.0, clip=c, label=f"scene {i + 1}") for i, c in enumerate(clips)], W, H, FPS
    )
    copied = assemble(plan, tmp_path / "copied.mp4")
    assert copied.copied, copied.reason
    assert video_packets(copied.path) == [p for c in clips for p in video_packets(c)]
    encoded = assemble(plan, tmp_path / "encoded.mp4", video="encode")
    assert not encoded.copied and encoded.reason == "re-encoding was asked for"
    # Both paths show the same frames at the same times, with the same audio length.
    copy_levels = decoded_levels(copied.path)
    encode_levels = decoded_levels(encoded.path)
    assert (
        [t for t, _ in copy_levels] == [t for t, _ in encode_levels] == [i / FPS for i in range(24)]
    )
    assert [index_of(v) for _, v in copy_levels] == [index_of(v) for _, v in encode_levels]
    assert probe(copied.path)["video_seconds"] == pytest.approx(3.0)
    assert probe(copied.path)["audio_seconds"] == pytest.approx(3.0, abs=0.03)


def _shown_at(levels: list[tuple[float, float]], seconds: float) -> int:
    """The source frame on screen at `seconds`: the last frame that started by then."""
    shown = [level for time, level in levels if time <= seconds + 1e-6]
    return index_of(shown[-1])


def test_copy_holds_a_short_clips_last_frame_by_starting_the_next_later(tmp_path: Path) -> None:
    short = write_clip(tmp_path / "short.mp4", frames=6)
    tail = write_clip(tmp_path / "tail.mp4", frames=5, start_index=10)
    plan = CutPlan([CutItem(1.0, clip=short), CutItem(1.0, clip=tail)], W, H, FPS)
    result = assemble(plan, tmp_path / "film.mp4")
    assert result.copied, result.reason
    levels = decoded_levels(result.path)
    assert [round(t * FPS) for t, _ in levels] == [0, 1, 2, 3, 4, 5, 8, 9, 10, 11, 12]
    # What a viewer sees at each frame time: held frames 5 and 14 fill the gaps.
    seen = [_shown_at(levels, i / FPS) for i in range(16)]
    assert seen == [0, 1, 2, 3, 4, 5, 5, 5, 10, 11, 12, 13, 14, 14, 14, 14]
    info = probe(result.path)
    assert info["video_seconds"] == pytest.approx(2.0)  # the final hold lasts to the end
    assert info["audio_seconds"] == pytest.approx(2.0, abs=0.03)


def test_copy_trims_only_where_decode_order_gives_exactly_the_first_frames(
    tmp_path: Path,
) -> None:
    long_b = write_clip(tmp_path / "b.mp4", frames=12)  # B-frames: reordered
    long_p = write_clip(tmp_path / "p.mp4", frames=12, bframes=False)
    with av.open(str(long_b)) as container:
        order = [
            round((p.pts or 0) * p.time_base * FPS) for p in container.demux(video=0) if p.size
        ]
    clean = [n for n in range(1, 12) if max(order[:n]) == n - 1]
    dirty = [n for n in range(1, 12) if n not in clean]
    assert clean and dirty  # the clip really has both kinds of cut point
    for frames in (clean[-1], dirty[-1]):
        plan = CutPlan([CutItem(frames / FPS, clip=long_b, label="scene 1")], W, H, FPS)
        result = assemble(plan, tmp_path / f"b{frames}.mp4")
        assert result.copied is (frames in clean), result.reason
        if not result.copied:
            assert result.reason == (
                f"scene 1: its clip cannot be cut at {frames} frames without re-encoding"
            )
        levels = [index_of(v) for _, v in decoded_levels(result.path)]
        assert levels == list(range(frames))
    # Without reordering every frame is a clean cut point.
    plan = CutPlan([CutItem(dirty[-1] / FPS, clip=long_p)], W, H, FPS)
    result = assemble(plan, tmp_path / "p-cut.mp4")
    assert result.copied
    assert [index_of(v) for _, v in decoded_levels(result.path)] == list(range(dirty[-1]))


def test_a_scene_of_zero_seconds_is_left_out(tmp_path: Path) -> None:
    clips = [write_clip(tmp_path / f"c{i}.mp4", frames=8, start_index=i * 8) for i in range(2)]
    plan = CutPlan([CutItem(0.0, clip=clips[0]), CutItem(1.0, clip=clips[1])], W, H, FPS)
    for mode in ("auto", "encode"):
        result = assemble(plan, tmp_path / f"{mode}.mp4", video=mode)
        assert result.copied is (mode == "auto")
        assert [index_of(v) for _, v in decoded_levels(result.path)] == list(range(8, 16))


def test_copy_is_refused_for_other_encoder_settings_or_a_missing_clip(tmp_path: Path) -> None:
    a = write_clip(tmp_path / "a.mp4", frames=8)
    other = write_clip(tmp_path / "other.mp4", frames=8, bframes=False)
    plan = CutPlan([CutItem(1.0, clip=a), CutItem(1.0, clip=other, label="scene 2")], W, H, FPS)
    assert plan_copy(plan) == (
        "scene 2: other.mp4 was encoded with other H.264 settings than the first clip"
    )
    result = assemble(plan, tmp_path / "film.mp4")
    assert not result.copied
    assert [index_of(v) for _, v in decoded_levels(result.path)] == [*range(8), *range(8)]
    mpeg4 = write_clip(tmp_path / "m.mp4", frames=8, codec="mpeg4")
    assert plan_copy(CutPlan([CutItem(1.0, clip=mpeg4, label="s")], W, H, FPS)) == (
        "s: m.mp4 is mpeg4, not H.264"
    )


# --------------------------------------------------------------------------- bad input


def _assert_no_output(path: Path) -> None:
    assert not path.exists(), f"{path} was left behind"


def test_a_corrupt_clip_is_one_line_naming_scene_and_file(tmp_path: Path) -> None:
    corrupt = tmp_path / "scene-03.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypisom" + b"junk" * 500)
    good = write_clip(tmp_path / "good.mp4", frames=8)
    plan = CutPlan(
        [CutItem(1.0, clip=good, label="scene 2"), CutItem(1.0, clip=corrupt, label="scene 3")],
        W,
        H,
        FPS,
    )
    out = tmp_path / "film.mp4"
    with pytest.raises(MediaError) as caught:
        assemble(plan, out)
    assert str(caught.value) == (
        f"scene 3: {corrupt}: not a readable video (Invalid data found when processing input)"
    )
    _assert_no_output(out)


def test_a_clip_that_goes_bad_mid_export_removes_the_partial_output(tmp_path: Path) -> None:
    """Headers fine, packets garbage: found only while encoding, after output was written."""
    good = write_clip(tmp_path / "good.mp4", frames=8)
    bad = write_clip(tmp_path / "bad.mp4", frames=8)
    data = bytearray(bad.read_bytes())
    at = data.find(b"mdat")
    size = int.from_bytes(data[at - 4 : at], "big")
    data[at + 4 : at - 4 + size] = b"\xff" * (size - 8)
    bad.write_bytes(bytes(data))
    plan = CutPlan(
        [CutItem(1.0, clip=good, label="scene 1"), CutItem(1.0, clip=bad, label="scene 2")],
        W,
        H,
        FPS,
    )
    out = tmp_path / "film.mp4"
    with pytest.raises(MediaError) as caught:
        assemble(plan, out, video="encode")
    assert str(caught.value) == (
        f"scene 2: {bad}: stopped decoding (Invalid data found when processing input)"
    )
    _assert_no_output(out)


def test_a_clip_that_is_gone(tmp_path: Path) -> None:
    gone = tmp_path / "assets" / "videos" / "scene-04.mp4"
    plan = CutPlan([CutItem(1.0, clip=gone, label="scene 4")], W, H, FPS)
    out = tmp_path / "film.mp4"
    with pytest.raises(MediaError) as caught:
        assemble(plan, out)
    assert str(caught.value) == f"scene 4: {gone}: no such clip"
    _assert_no_output(out)


def test_bad_stills_and_audio_are_named(tmp_path: Path) -> None:
    still = tmp_path / "s.png"
    still.write_bytes(b"not a png")
    out = tmp_path / "film.mp4"
    with pytest.raises(MediaError) as caught:
        assemble(CutPlan([CutItem(1.0, still=still, label="scene 1")], W, H, FPS), out)
    assert str(caught.value).startswith(f"scene 1: {still}: not a readable image (")
    audio = tmp_path / "n.wav"
    audio.write_bytes(b"RIFF" + b"\x00" * 100)
    with pytest.raises(MediaError) as caught:
        assemble(CutPlan([CutItem(1.0, audio=audio, label="scene 5")], W, H, FPS), out)
    assert str(caught.value).startswith(f"scene 5: {audio}: cannot be decoded as audio (")
    _assert_no_output(out)


def test_zero_scenes_is_nothing_to_export(tmp_path: Path) -> None:
    out = tmp_path / "film.mp4"
    with pytest.raises(MediaError) as caught:
        assemble(CutPlan([], W, H, FPS), out)
    assert str(caught.value) == "nothing to export: the storyboard has no scenes"
    with pytest.raises(MediaError, match="every scene lasts 0 s"):
        assemble(CutPlan([CutItem(0.0, narration="x")], W, H, FPS), out)
    _assert_no_output(out)


def test_a_full_disk_is_one_line(tmp_path: Path) -> None:
    """/dev/full fails every write with ENOSPC, as a full disk does; it is never deleted."""
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system")
    clip = write_clip(tmp_path / "c.mp4", frames=8)
    plan = CutPlan([CutItem(1.0, clip=clip)] * 3, W, H, FPS)
    for mode in ("auto", "encode"):
        with pytest.raises(MediaError) as caught:
            assemble(plan, Path("/dev/full"), name="film.mp4", video=mode)
        assert str(caught.value) == "cannot write film.mp4: No space left on device"
    assert Path("/dev/full").exists()


def test_an_output_outside_a_writable_folder(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "c.mp4", frames=8)
    plan = CutPlan([CutItem(1.0, clip=clip)], W, H, FPS)
    missing = tmp_path / "no" / "such" / "film.mp4"
    with pytest.raises(MediaError) as caught:
        assemble(plan, missing)
    assert str(caught.value) == f"cannot write {missing}: No such file or directory"
    a_file = tmp_path / "plain.txt"
    a_file.write_text("x")
    with pytest.raises(MediaError) as caught:
        assemble(plan, a_file / "film.mp4")
    assert str(caught.value) == f"cannot write {a_file / 'film.mp4'}: Not a directory"
    assert a_file.read_text() == "x"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_an_output_in_a_read_only_folder(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "c.mp4", frames=8)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        with pytest.raises(MediaError) as caught:
            assemble(CutPlan([CutItem(1.0, clip=clip)], W, H, FPS), locked / "film.mp4")
        assert str(caught.value) == f"cannot write {locked / 'film.mp4'}: Permission denied"
    finally:
        locked.chmod(0o755)


def test_cancel_stops_and_removes_the_output(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "c.mp4", frames=8)
    plan = CutPlan([CutItem(1.0, clip=clip)] * 4, W, H, FPS)
    out = tmp_path / "film.mp4"
    for mode in ("auto", "encode"):
        calls = 0

        def cancel() -> bool:
            nonlocal calls
            calls += 1
            return calls > 12

        with pytest.raises(CutCancelled):
            assemble(plan, out, cancel=cancel, video=mode)
        _assert_no_output(out)


def test_odd_project_sizes_lose_a_pixel(tmp_path: Path) -> None:
    result = assemble(CutPlan([CutItem(0.25, narration="Odd.")], 65, 49, FPS), tmp_path / "o.mp4")
    assert probe(result.path)["size"] == (64, 48)
    assert probe(result.path)["fps"] == Fraction(FPS)
    assert level_of(0) > 0  # (the helper's levels start above black)
