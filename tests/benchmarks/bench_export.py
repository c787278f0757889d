"""Exporting the rough cut of the 12-scene sample, against the ffmpeg command line.

The sample (sample_projects/lighthouse) has ten clips (832×480, 16 fps, H.264)
and two scenes with neither clip nor still, which become title cards. It ships
no narration audio, so a tone of each scene's narration length is written as
its audio_file first: the audio track is part of the work being timed.

1. The whole sample: title cards rule out copying, so every frame is
   re-encoded. ffmpeg does the same work in one command: the same inputs (the
   title cards as the same PNGs), each scene fitted to 832×480, cut or padded
   (last frame held) to the same frame count, concatenated, each narration
   padded with silence to its scene, and the same encoders and settings
   (libx264 veryfast crf 20, AAC 128 kb/s, +faststart). Target: ≤ 1.5×
   ffmpeg's time.
2. The ten clip scenes with durations equal to their clips: the stream-copy
   path against ffmpeg's concat demuxer with `-c:v copy` and the same audio,
   and our re-encoding path on the same input, so both paths are measured.

Each command runs three times; the median wall time is reported, with CPU
time (ours: this process, encoder threads included; ffmpeg: the child).
ffmpeg is installed with apt-get when missing; the comparison is skipped,
with the reason, when it cannot be had.

Run: python -m tests.benchmarks export
"""

from __future__ import annotations

import array
import json
import math
import os
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av

from tui.media.cut import (
    AUDIO_BITRATE,
    AUDIO_RATE,
    X264_OPTIONS,
    CutItem,
    CutPlan,
    CutResult,
    assemble,
    slots,
)
from tui.media.pictures import title_card

SAMPLE = Path(__file__).resolve().parents[2] / "sample_projects" / "lighthouse"
RUNS = 3


def ensure_ffmpeg() -> tuple[str | None, str]:
    """The ffmpeg binary, installing it with apt-get if need be; else None and why."""
    found = shutil.which("ffmpeg")
    if found:
        return found, "already installed"
    apt = shutil.which("apt-get")
    if apt is None:
        return None, "ffmpeg is not installed and there is no apt-get to install it"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}

    def apt_get(*args: str) -> None:
        subprocess.run([apt, *args], env=env, capture_output=True, check=False, timeout=900)

    apt_get("install", "-y", "-q", "ffmpeg")
    if not shutil.which("ffmpeg"):  # a stale package list: refresh it once and retry
        apt_get("update", "-q")
        apt_get("install", "-y", "-q", "ffmpeg")
    found = shutil.which("ffmpeg")
    if found:
        return found, "installed with apt-get for this run"
    return None, "ffmpeg could not be installed with apt-get (no network or no permission?)"


def write_tone(path: Path, seconds: float, rate: int = 24_000) -> Path:
    """A narration stand-in: a 180 Hz voice-like tone in 4 Hz syllables, mono 16-bit."""
    count = round(seconds * rate)
    samples = array.array(
        "h",
        (
            int(
                9000
                * (0.55 + 0.45 * math.sin(2 * math.pi * 4 * i / rate))
                * (
                    math.sin(2 * math.pi * 180 * i / rate)
                    + 0.3 * math.sin(2 * math.pi * 540 * i / rate)
                )
                / 1.3
            )
            for i in range(count)
        ),
    )
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())
    return path


def sample_plan(work: Path) -> CutPlan:
    data = json.loads((SAMPLE / "storyboard.json").read_text(encoding="utf-8"))
    items = []
    for index, scene in enumerate(data["scenes"]):
        audio = write_tone(work / f"narration-{index + 1:02d}.wav", scene["audio_duration"])
        clip = SAMPLE / scene["video"]["file"] if scene.get("video") else None
        still = SAMPLE / scene["image"]["file"] if scene.get("image") else None
        items.append(
            CutItem(
                duration=scene["audio_duration"],
                clip=clip,
                still=still,
                narration=scene["narration"],
                audio=audio,
                label=f"scene {index + 1}",
            )
        )
    return CutPlan(items, data["width"], data["height"], data["fps"])


def clip_plan(plan: CutPlan) -> CutPlan:
    """The clip scenes only, each as long as its clip: nothing to cut or hold."""
    items = []
    for item in plan.items:
        if item.clip is None:
            continue
        with av.open(str(item.clip)) as container:
            frames = container.streams.video[0].frames
        items.append(CutItem(frames / plan.fps, clip=item.clip, audio=item.audio, label=item.label))
    return CutPlan(items, plan.width, plan.height, plan.fps)


def _audio_filters(plan: CutPlan, first_input: int) -> tuple[list[str], list[str]]:
    """Each narration resampled, padded with silence and cut to its scene's samples."""
    filters, labels = [], []
    for index, ((_, count), item) in enumerate(
        zip(slots([i.duration for i in plan.items], plan.fps), plan.items, strict=True)
    ):
        assert item.audio is not None
        samples = count * AUDIO_RATE // plan.fps
        filters.append(
            f"[{first_input + index}:a]aresample={AUDIO_RATE},"
            f"aformat=sample_fmts=fltp:channel_layouts=stereo,apad=whole_len={samples},"
            f"atrim=end_sample={samples},asetpts=PTS-STARTPTS[a{index}]"
        )
        labels.append(f"[a{index}]")
    return filters, labels


def _output_args(out: Path, *, copy: bool) -> list[str]:
    video = (
        ["-c:v", "copy"]
        if copy
        else [
            "-c:v",
            "libx264",
            "-preset",
            X264_OPTIONS["preset"],
            "-crf",
            X264_OPTIONS["crf"],
            "-pix_fmt",
            "yuv420p",
        ]
    )
    return [
        *video,
        "-c:a",
        "aac",
        "-b:a",
        str(AUDIO_BITRATE),
        "-movflags",
        "+faststart",
        str(out),
    ]


def ffmpeg_encode_command(ffmpeg: str, plan: CutPlan, work: Path, out: Path) -> list[str]:
    """The same cut in one ffmpeg command: fit, hold or cut, concatenate, narrate, encode."""
    width, height, fps = plan.width, plan.height, plan.fps
    inputs: list[str] = []
    filters: list[str] = []
    labels: list[str] = []
    timeline = slots([item.duration for item in plan.items], fps)
    for index, (item, (_, count)) in enumerate(zip(plan.items, timeline, strict=True)):
        if item.clip is not None:
            inputs += ["-i", str(item.clip)]
            with av.open(str(item.clip)) as container:
                hold = max(0, count - container.streams.video[0].frames)
        else:
            card = work / f"card-{index + 1:02d}.png"
            if item.still is not None:
                shutil.copy(item.still, card)
            else:
                title_card(item.narration, (width, height)).save(card)
            inputs += ["-loop", "1", "-framerate", str(fps), "-t", f"{item.duration}"]
            inputs += ["-i", str(card)]
            hold = 1
        # Hold exactly the frames the scene lacks, then cut at its frame count.
        filters.append(
            f"[{index}:v]fps={fps},scale={width}:{height}:force_original_aspect_ratio=decrease,"
            f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2,setsar=1,format=yuv420p,"
            f"tpad=stop_mode=clone:stop={hold},trim=end_frame={count},"
            f"setpts=PTS-STARTPTS[v{index}]"
        )
        labels.append(f"[v{index}]")
    for item in plan.items:
        assert item.audio is not None
        inputs += ["-i", str(item.audio)]
    audio_filters, audio_labels = _audio_filters(plan, len(plan.items))
    graph = ";".join(
        [
            *filters,
            f"{''.join(labels)}concat=n={len(labels)}:v=1:a=0[v]",
            *audio_filters,
            f"{''.join(audio_labels)}concat=n={len(audio_labels)}:v=0:a=1[a]",
        ]
    )
    return [
        ffmpeg,
        "-y",
        "-v",
        "error",
        *inputs,
        "-filter_complex",
        graph,
        "-map",
        "[v]",
        "-map",
        "[a]",
        *_output_args(out, copy=False),
    ]


def ffmpeg_copy_command(ffmpeg: str, plan: CutPlan, work: Path, out: Path) -> list[str]:
    """ffmpeg's concat demuxer copying the clips, with the same narration track."""
    listing = work / "clips.txt"
    listing.write_text("".join(f"file '{item.clip}'\n" for item in plan.items), encoding="utf-8")
    inputs = ["-f", "concat", "-safe", "0", "-i", str(listing)]
    for item in plan.items:
        assert item.audio is not None
        inputs += ["-i", str(item.audio)]
    audio_filters, audio_labels = _audio_filters(plan, 1)
    graph = ";".join(
        [*audio_filters, f"{''.join(audio_labels)}concat=n={len(audio_labels)}:v=0:a=1[a]"]
    )
    return [
        ffmpeg,
        "-y",
        "-v",
        "error",
        *inputs,
        "-filter_complex",
        graph,
        "-map",
        "0:v",
        "-map",
        "[a]",
        *_output_args(out, copy=True),
    ]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_ours(plan: CutPlan, out: Path, video: Any) -> tuple[float, float, CutResult]:
    walls, cpus = [], []
    result: CutResult | None = None
    for _ in range(RUNS):
        out.unlink(missing_ok=True)
        cpu, wall = time.process_time(), time.perf_counter()
        result = assemble(plan, out, video=video)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    assert result is not None
    return statistics.median(walls), statistics.median(cpus), result


def time_ffmpeg(make: Callable[[], list[str]], out: Path) -> tuple[float, float]:
    command = make()
    walls, cpus = [], []
    for _ in range(RUNS):
        out.unlink(missing_ok=True)
        cpu, wall = _children_cpu(), time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        walls.append(time.perf_counter() - wall)
        cpus.append(_children_cpu() - cpu)
        if done.returncode != 0:
            raise RuntimeError(f"ffmpeg failed: {done.stderr.strip()[-400:]}")
    return statistics.median(walls), statistics.median(cpus)


def aac_alone(ffmpeg: str, plan: CutPlan, work: Path) -> tuple[float, float]:
    """Encoding the film's narration (one wav of its length) to AAC alone: ffmpeg, then PyAV.

    The two sides run different FFmpeg releases (the distribution's ffmpeg, PyAV's bundled
    libraries), and their AAC encoders differ in speed; this shows by how much. (The cut
    makes its audio in a thread beside the video, so this is not simply part of its time.)
    """
    seconds = sum(count for _, count in slots([i.duration for i in plan.items], plan.fps))
    source = write_tone(work / "narration-all.wav", seconds / plan.fps)
    out = work / "aac.m4a"
    command = [ffmpeg, "-y", "-v", "error", "-i", str(source), "-ar", str(AUDIO_RATE)]
    command += ["-ac", "2", "-c:a", "aac", "-b:a", str(AUDIO_BITRATE), str(out)]
    walls = []
    for _ in range(RUNS):
        started = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        walls.append(time.perf_counter() - started)
    ours = []
    for _ in range(RUNS):
        started = time.perf_counter()
        with av.open(str(source)) as inp, av.open(str(out), "w") as container:
            stream = container.add_stream("aac", rate=AUDIO_RATE)
            stream.layout = "stereo"
            stream.codec_context.bit_rate = AUDIO_BITRATE
            resampler = av.AudioResampler(format="fltp", layout="stereo", rate=AUDIO_RATE)
            for frame in inp.decode(audio=0):
                for chunk in resampler.resample(frame):
                    chunk.pts = None
                    container.mux(stream.encode(chunk))
            container.mux(stream.encode(None))
        ours.append(time.perf_counter() - started)
    return statistics.median(walls), statistics.median(ours)


def ffmpeg_version(ffmpeg: str) -> str:
    done = subprocess.run([ffmpeg, "-version"], capture_output=True, text=True, check=False)
    first = done.stdout.splitlines()[0] if done.stdout else "unknown"
    return first.split(" Copyright")[0]


def describe(path: Path) -> str:
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        audio = container.streams.audio[0]
        frames = sum(1 for p in container.demux(video) if p.size)
        seconds = container.duration / av.time_base if container.duration else 0.0
        return (
            f"{video.codec_context.name} {video.codec_context.width}x{video.codec_context.height} "
            f"{frames} frames + {audio.codec_context.name}, {seconds:.3f} s, "
            f"{path.stat().st_size // 1024} KB"
        )


def main() -> None:
    ffmpeg, how = ensure_ffmpeg()
    with tempfile.TemporaryDirectory(prefix="bench-export-") as folder:
        work = Path(folder)
        plan = sample_plan(work)
        copyable = clip_plan(plan)
        total = sum(count for _, count in slots([i.duration for i in plan.items], plan.fps))
        print(
            f"sample: {len(plan.items)} scenes, {total} frames at {plan.width}x{plan.height} "
            f"{plan.fps} fps; ffmpeg: {how}"
        )

        wall, cpu, result = time_ours(plan, work / "ours-12.mp4", "auto")
        print(
            f"ours, 12 scenes ({'copy' if result.copied else 'encode'}: {result.reason}): "
            f"{wall:.2f} s wall, {cpu:.2f} s CPU -> {describe(result.path)}"
        )
        copy_wall, copy_cpu, copied = time_ours(copyable, work / "ours-copy.mp4", "auto")
        print(
            f"ours, 10 clip scenes, {'copy' if copied.copied else 'encode'}: {copy_wall:.2f} s "
            f"wall, {copy_cpu:.2f} s CPU -> {describe(copied.path)}"
        )
        enc_wall, enc_cpu, encoded = time_ours(copyable, work / "ours-encode.mp4", "encode")
        print(
            f"ours, 10 clip scenes, encode: {enc_wall:.2f} s wall, {enc_cpu:.2f} s CPU -> "
            f"{describe(encoded.path)}; copying is {enc_wall / copy_wall:.0f}x faster"
        )
        if ffmpeg is None:
            print(f"ffmpeg comparison skipped: {how}")
            return
        out = work / "ffmpeg-12.mp4"
        f_wall, f_cpu = time_ffmpeg(lambda: ffmpeg_encode_command(ffmpeg, plan, work, out), out)
        print(
            f"ffmpeg, 12 scenes, encode: {f_wall:.2f} s wall, {f_cpu:.2f} s CPU -> {describe(out)}"
        )
        ratio = wall / f_wall
        print(
            f"ratio, 12-scene export: {ratio:.2f}x ffmpeg's time (CPU {cpu / f_cpu:.2f}x); "
            f"target <= 1.5x: {'meets' if ratio <= 1.5 else 'MISSES'}"
        )
        f_aac, our_aac = aac_alone(ffmpeg, plan, work)
        print(
            f"versions: {ffmpeg_version(ffmpeg)} against PyAV {av.__version__} on FFmpeg "
            f"{av.ffmpeg_version_info}; "
            f"AAC alone for the film's narration: ffmpeg {f_aac:.2f} s, PyAV {our_aac:.2f} s"
        )
        out = work / "ffmpeg-copy.mp4"
        c_wall, c_cpu = time_ffmpeg(lambda: ffmpeg_copy_command(ffmpeg, copyable, work, out), out)
        print(
            f"ffmpeg, 10 clip scenes, concat copy: {c_wall:.2f} s wall, {c_cpu:.2f} s CPU -> "
            f"{describe(out)}"
        )
        print(f"ratio, copy path: {copy_wall / c_wall:.2f}x ffmpeg's time")


if __name__ == "__main__":
    main()
