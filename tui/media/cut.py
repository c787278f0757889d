"""The rough cut: every scene's picture for its narration's length, with the narration under it.

One MP4 (H.264 video, AAC audio) at the project's size and frame rate. Each
scene gets a slot of whole frames on one timeline; slot boundaries are rounded
from the running total of durations, so rounding never accumulates into drift
and each narration starts on the first frame of its scene.

- A clip fills its slot: cut at the slot's end, or its last frame held.
  A clip at another frame rate is resampled by time (each output frame shows
  the latest source frame at or before it); one at another size is fitted
  inside the frame on black bars, never cropped.
- A scene with no clip shows its still, fitted the same way; one with neither
  shows its narration as a title card.
- Narration audio is placed at its scene's start and cut at the scene's end;
  a scene without narration audio is silent.

Stream copy. Re-encoding H.264 is nearly all of an export's time, and every
re-encode loses quality. The video is copied packet for packet, never decoded,
exactly when copying gives the same frames, at the same times, as the encode:

1. every scene has a clip, each an H.264 stream with byte-identical parameter
   sets (the avcC extradata), since an MP4 track carries one sample description
   and a decoder given another stream's SPS/PPS shows garbage;
2. each clip is exactly the project's size, yuv420p, and at the project's fps
   (every timestamp on the 1/fps grid, no frame missing or doubled), so no
   frame needs scaling or resampling;
3. each clip's first packet is a keyframe, so it decodes without what came before;
4. each clip fits its slot the way copying can honour:
   - shorter or equal: the last frame is held by starting the next scene later
     (the gap lengthens the last frame's display time; nothing is re-encoded);
   - longer: a prefix in decode order always decodes (a frame only references
     frames decoded before it), so the clip is cut after `slot` packets, but only
     when those packets are exactly frames 0…slot-1. With B-frames that is true
     only at some frames; anywhere else the cut would skip or freeze frames, so
     the whole film is re-encoded instead. A 0-frame slot drops the clip;
5. decode timestamps still rise across every join (a clip that starts decoding
   further ahead than the one before it ends could collide).

If any check fails, every frame is re-encoded (libx264, yuv420p) and the
result says which check failed.
"""

from __future__ import annotations

import math
import os
import queue
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import av
import av.error
from av.audio.frame import AudioFrame
from av.audio.resampler import AudioResampler
from av.audio.stream import AudioStream
from av.container import OutputContainer
from av.packet import Packet
from av.video.frame import PictureType, VideoFrame
from av.video.stream import VideoStream
from PIL import Image

from tui.media.audio import check_extension
from tui.media.errors import MediaError, describe, media_error
from tui.media.frames import (
    DECODE_ERRORS,
    RawFrame,
    iter_raw_frames,
    pil_image,
    probe_clip,
    video_frame,
)
from tui.media.pictures import Size, letterbox, load_still, title_card

ProgressFn = Callable[[int, int], None]
"""(frames done, frames in all), called from the exporting thread."""
CancelFn = Callable[[], bool]
"""Returns True when the caller wants the export to stop."""
VideoMode = Literal["auto", "encode"]

X264_OPTIONS = {"preset": "veryfast", "crf": "20"}
"""A rough cut is watched and shared: better than a draft (crf 28), still quick to make."""
AUDIO_RATE = 48_000
AUDIO_LAYOUT = "stereo"
AUDIO_BITRATE = 128_000
TICKS_PER_FRAME = 1024
"""The copied video's time base is 1/(fps·1024), the same grid x264's MP4s use."""
MUX_OPTIONS = {"movflags": "+faststart"}
"""The index goes first, so a shared cut starts playing before it has fully downloaded."""
_SILENCE_CHUNK = 4_800
_PROGRESS_EVERY = 8


class CutCancelled(Exception):
    """The caller's cancel() said stop; the output was removed."""


@dataclass(frozen=True, slots=True)
class CutItem:
    """One scene of the cut, as plain paths and numbers: the store resolves them."""

    duration: float
    """The narration's length in seconds: the scene's slot on the timeline."""
    clip: Path | None = None
    still: Path | None = None
    """Shown, fitted, when there is no clip."""
    narration: str = ""
    """The title card's words when there is neither, and the subtitle's."""
    audio: Path | None = None
    """Narration audio placed at the scene's start; None is silence."""
    label: str = ""
    """How errors name the scene, e.g. "scene 3"."""


@dataclass(frozen=True, slots=True)
class CutPlan:
    """What goes into the cut, in order, and the picture format."""

    items: Sequence[CutItem]
    width: int
    height: int
    fps: int


@dataclass(frozen=True, slots=True)
class CutResult:
    """What was written: how, and why the video could not be copied if it was not."""

    path: Path
    copied: bool
    """True when the video packets were copied, False when every frame was re-encoded."""
    reason: str
    """Why the video was copied, or the first check that ruled copying out."""
    frames: int
    seconds: float
    slots: list[int] = field(default_factory=list)
    """Frames per scene, in order."""


# --------------------------------------------------------------------------- timeline


def _half_up(value: Fraction) -> int:
    return math.floor(value + Fraction(1, 2))


def slots(durations: Sequence[float], fps: int) -> list[tuple[int, int]]:
    """(first frame, frame count) per scene, rounded from the running total.

    Each boundary is the running total of durations rounded to the nearest
    frame, so a scene is at most half a frame off its narration and the error
    never adds up over a long film.
    """
    result: list[tuple[int, int]] = []
    total = Fraction(0)
    start = 0
    for duration in durations:
        if not math.isfinite(duration) or duration < 0:
            raise MediaError(f"a scene lasts {duration!r} s; durations must be 0 s or more")
        total += Fraction(duration).limit_denominator(1_000_000)
        end = _half_up(total * fps)
        result.append((start, end - start))
        start = end
    return result


def even_size(width: int, height: int) -> Size:
    """H.264 in yuv420p needs even sides: an odd side loses its last pixel."""
    width, height = width - width % 2, height - height % 2
    if width < 2 or height < 2:
        raise MediaError(f"the project's size {width}x{height} is too small for a film")
    return width, height


# --------------------------------------------------------------------------- subtitles


def _srt_time(seconds: Fraction) -> str:
    millis = _half_up(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d},{millis:03d}"


def srt_text(plan: CutPlan) -> str:
    """SubRip cues, one per scene with narration, timed to the scene's frames in the film."""
    cues: list[str] = []
    timeline = slots([item.duration for item in plan.items], plan.fps)
    for item, (start, count) in zip(plan.items, timeline, strict=True):
        words = " ".join(item.narration.split())
        if not words or count == 0:
            continue
        begin = Fraction(start, plan.fps)
        end = Fraction(start + count, plan.fps)
        cues.append(f"{len(cues) + 1}\n{_srt_time(begin)} --> {_srt_time(end)}\n{words}\n")
    return "\n".join(cues)


def write_srt(plan: CutPlan, path: Path) -> None:
    """Write the subtitles to `path` (the caller's temp path) and fsync it."""
    try:
        with open(path, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(srt_text(plan))
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as error:
        _remove_regular(path)
        raise media_error(path, "cannot be written", error) from None


# --------------------------------------------------------------------------- copy planning


@dataclass(frozen=True, slots=True)
class _Scan:
    """A clip's video packets in decode order, as frame indices and decode offsets."""

    path: Path
    time_base: Fraction
    interval: int
    """Ticks of time_base per frame."""
    origin: int
    """The first frame's pts."""
    frames: list[int]
    """Per packet in decode order: its frame index, (pts - origin) / interval."""
    dts: list[int]
    """Per packet: dts - origin, in frames (may be negative: B-frame delay)."""


def _scan(
    path: Path, width: int, height: int, fps: int, extradata: bytes | None
) -> tuple[_Scan, bytes] | str:
    """The clip's packets if it could be copied into this film, else why not."""
    try:
        with av.open(str(path), mode="r") as container:
            if not container.streams.video:
                return f"{path.name} has no video"
            stream = container.streams.video[0]
            ctx = stream.codec_context
            if ctx.name != "h264":
                return f"{path.name} is {ctx.name}, not H.264"
            if (ctx.width, ctx.height) != (width, height):
                return f"{path.name} is {ctx.width}x{ctx.height}, the film {width}x{height}"
            if ctx.pix_fmt != "yuv420p":
                return f"{path.name} is {ctx.pix_fmt}, not yuv420p"
            data = bytes(ctx.extradata or b"")
            if not data:
                return f"{path.name} has no avcC parameter sets"
            if extradata is not None and data != extradata:
                return f"{path.name} was encoded with other H.264 settings than the first clip"
            time_base = stream.time_base
            if time_base is None or (1 / (time_base * fps)).denominator != 1:
                return f"{path.name}'s time base cannot hold {fps} fps exactly"
            interval = int(1 / (time_base * fps))
            pts: list[int] = []
            dts: list[int] = []
            first_key: bool | None = None
            for packet in container.demux(stream):
                if packet.pts is None or packet.size == 0:
                    continue
                if first_key is None:
                    first_key = packet.is_keyframe
                pts.append(packet.pts)
                dts.append(packet.dts if packet.dts is not None else packet.pts)
    except DECODE_ERRORS as error:
        return f"{path.name} cannot be read ({describe(error)})"
    if not pts:
        return f"{path.name} holds no frames"
    if not first_key:
        return f"{path.name} does not start on a keyframe"
    origin = min(pts)
    frames: list[int] = []
    for value in pts:
        index, rest = divmod(value - origin, interval)
        if rest:
            return f"{path.name} is not at {fps} fps"
        frames.append(index)
    if sorted(frames) != list(range(len(frames))):
        return f"{path.name} is not at {fps} fps (frames missing or doubled)"
    offsets = [(value - origin) / interval for value in dts]
    if any(offset != int(offset) for offset in offsets):
        return f"{path.name} has decode times off the {fps} fps grid"
    scan = _Scan(path, time_base, interval, origin, frames, [int(o) for o in offsets])
    return scan, data


def _copy_count(scan: _Scan, slot: int) -> int | None:
    """Packets to copy so the clip shows exactly its first `slot` frames, or None if impossible."""
    if slot == 0:
        return 0
    if len(scan.frames) <= slot:
        return len(scan.frames)  # the rest of the slot holds the last frame
    if max(scan.frames[:slot]) == slot - 1:  # distinct indices 0…slot-1: a clean prefix
        return slot
    return None


@dataclass(frozen=True, slots=True)
class _CopyPlan:
    scans: list[_Scan]
    counts: list[int]


def plan_copy(plan: CutPlan) -> _CopyPlan | str:
    """The packets to copy per scene, or the first reason the video must be re-encoded."""
    width, height = even_size(plan.width, plan.height)
    boundaries = slots([item.duration for item in plan.items], plan.fps)
    scans: list[_Scan] = []
    counts: list[int] = []
    extradata: bytes | None = None
    last_dts: int | None = None
    for index, (item, (start, slot)) in enumerate(zip(plan.items, boundaries, strict=True)):
        label = item.label or f"scene {index + 1}"
        if item.clip is None:
            return f"{label} has no clip"
        scanned = _scan(item.clip, width, height, plan.fps, extradata)
        if isinstance(scanned, str):
            return f"{label}: {scanned}"
        scan, extradata = scanned
        count = _copy_count(scan, slot)
        if count is None:
            return f"{label}: its clip cannot be cut at {slot} frames without re-encoding"
        if count:
            first = start + scan.dts[0]
            if last_dts is not None and first <= last_dts:
                return f"{label}: its clip's decode delay collides with the scene before"
            last_dts = start + max(scan.dts[:count])
        scans.append(scan)
        counts.append(count)
    return _CopyPlan(scans, counts)


# --------------------------------------------------------------------------- writing


def _remove_regular(path: Path) -> None:
    """Remove a half-written output; never anything but a regular file (e.g. not /dev/full)."""
    try:
        if path.is_file() and not path.is_symlink():
            path.unlink()
    except OSError:
        pass


def _fsync(path: Path) -> None:
    if not path.is_file():
        return  # a device or pipe: nothing to make durable
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _Audio:
    """The narration track: silence and decoded narration, sample-exact on the film's timeline.

    Encoded packets are collected rather than muxed, so the track can be made in
    its own thread while the video is encoded, and muxed scene by scene after it.
    """

    def __init__(self, stream: AudioStream) -> None:
        self.stream = stream
        self.position = 0
        self.packets: list[Packet[Any]] = []
        self._time_base = Fraction(1, AUDIO_RATE)
        self._silence: AudioFrame | None = None

    def take(self) -> list[Packet[Any]]:
        packets, self.packets = self.packets, []
        return packets

    def _send(self, frame: AudioFrame | None) -> None:
        if frame is not None:
            frame.pts = self.position
            frame.time_base = self._time_base
            frame.sample_rate = AUDIO_RATE
            self.position += frame.samples
        self.packets.extend(self.stream.encode(frame))

    def silence_until(self, end: int) -> None:
        while self.position < end:
            count = min(_SILENCE_CHUNK, end - self.position)
            if self._silence is None or self._silence.samples != count:
                self._silence = AudioFrame(format="fltp", layout=AUDIO_LAYOUT, samples=count)
                for plane in self._silence.planes:
                    plane.update(bytes(plane.buffer_size))
            self._send(self._silence)

    def narration(self, path: Path, end: int) -> None:
        """The file from the current position, cut at sample `end`."""
        resampler = AudioResampler(format="fltp", layout=AUDIO_LAYOUT, rate=AUDIO_RATE)
        fifo = av.AudioFifo()
        try:
            with av.open(str(path), mode="r") as source:
                if not source.streams.audio:
                    raise media_error(path, "has no audio stream")
                decoded = source.decode(source.streams.audio[0])
                for frame in decoded:
                    if self.position >= end:
                        break
                    frame.pts = None
                    for out in resampler.resample(frame):
                        out.pts = None
                        fifo.write(out)
                    self._drain(fifo, end)
                for out in resampler.resample(None):
                    out.pts = None
                    fifo.write(out)
                self._drain(fifo, end, partial=True)
        except MediaError:
            raise
        except FileNotFoundError:
            raise media_error(path, "no such audio file") from None
        except DECODE_ERRORS as error:
            raise media_error(path, "cannot be decoded as audio", error) from None

    def _drain(self, fifo: av.AudioFifo, end: int, *, partial: bool = False) -> None:
        while self.position < end:
            room = end - self.position
            want = min(room, _SILENCE_CHUNK)
            if fifo.samples < want and not (partial and fifo.samples):
                return
            chunk = fifo.read(min(want, fifo.samples))
            if chunk is None:
                return
            self._send(chunk)

    def finish(self) -> None:
        self._send(None)


class _AudioTrack(threading.Thread):
    """Makes the narration track in its own thread, beside the video.

    AAC encoding is about a sixth of an export; PyAV releases the GIL while
    FFmpeg works, so it overlaps with x264 rather than adding to it. The
    packets of scene i wait in a queue until the video of scene i is muxed, so
    the file is interleaved exactly as if it had been made in one thread.
    """

    def __init__(self, writer: _Writer, stream: AudioStream) -> None:
        super().__init__(name="cut-audio", daemon=True)
        self._writer = writer
        self._audio = _Audio(stream)
        self._queue: queue.Queue[list[Packet[Any]] | BaseException] = queue.Queue()
        self._halted = threading.Event()

    def run(self) -> None:
        try:
            for index in range(len(self._writer.plan.items)):
                if self._halted.is_set():
                    return
                self._writer.scene_audio(self._audio, index)
                self._queue.put(self._audio.take())
            self._audio.finish()
            self._queue.put(self._audio.take())
        except BaseException as error:  # handed to the exporting thread, raised there
            self._queue.put(error)

    def packets(self) -> list[Packet[Any]]:
        """The next scene's packets (after the last scene: the encoder's tail), in order."""
        result = self._queue.get()
        if isinstance(result, BaseException):
            raise result
        return result

    def halt(self) -> None:
        """Stop after the scene in hand and wait: the thread uses the output's encoder."""
        self._halted.set()
        if self.is_alive():
            self.join()


def _fresh(frame: VideoFrame) -> VideoFrame:
    """A decoded frame cleared of the decoder's frame type, so x264 picks its own GOP."""
    frame.pict_type = PictureType.NONE
    return frame


def _fit_frame(frame: VideoFrame, size: Size) -> VideoFrame:
    """A decoded frame at the film's size and format: swscale when the aspect matches."""
    width, height = size
    if (frame.width, frame.height) == size and frame.format.name == "yuv420p":
        return _fresh(frame)
    if frame.width * height == frame.height * width:
        return _fresh(frame.reformat(width=width, height=height, format="yuv420p"))
    return _picture_frame(letterbox(pil_image(frame), size))


def _picture_frame(image: Image.Image) -> VideoFrame:
    return video_frame(image).reformat(format="yuv420p")


def _held(frames: Iterator[RawFrame], count: int, fps: int) -> Iterator[RawFrame]:
    """`count` output frames from a clip, by time.

    Output frame k shows the latest source frame at or before k/fps (the first
    frame covers any gap before it); past the clip's end the last one is held.
    """
    current = next(frames)
    pending = next(frames, None)
    for index in range(count):
        due = index / fps + 1e-4
        while pending is not None and pending.time <= due:
            current = pending
            pending = next(frames, None)
        yield current


class _Writer:
    """One export in progress: the container, its streams, the timeline and the progress."""

    def __init__(
        self,
        plan: CutPlan,
        output: Path,
        name: str,
        progress: ProgressFn | None,
        cancel: CancelFn | None,
    ) -> None:
        self.plan = plan
        self.output = output
        self.name = name
        self.size = even_size(plan.width, plan.height)
        self.fps = plan.fps
        self.slots = slots([item.duration for item in plan.items], plan.fps)
        self.total = sum(count for _, count in self.slots)
        self.done = 0
        self._progress = progress
        self._cancel = cancel
        self._reported = 0

    def check(self) -> None:
        if self._cancel is not None and self._cancel():
            raise CutCancelled

    def advance(self, frames: int = 1) -> None:
        self.done += frames
        if self._progress is not None and (
            self.done - self._reported >= _PROGRESS_EVERY or self.done == self.total
        ):
            self._reported = self.done
            self._progress(self.done, self.total)

    def audio_end(self, index: int) -> int:
        start, count = self.slots[index]
        return (start + count) * AUDIO_RATE // self.fps

    def scene_audio(self, audio: _Audio, index: int) -> None:
        item = self.plan.items[index]
        start = self.slots[index][0] * AUDIO_RATE // self.fps
        audio.silence_until(start)
        if item.audio is not None and self.slots[index][1]:
            try:
                audio.narration(item.audio, self.audio_end(index))
            except MediaError as error:
                raise _with_label(item, error) from None
        audio.silence_until(self.audio_end(index))

    def start_audio(self, container: OutputContainer) -> _AudioTrack:
        """Add the AAC stream, write the header (which opens every encoder, in this
        thread), and start making the narration track."""
        stream = container.add_stream("aac", rate=AUDIO_RATE)
        stream.layout = AUDIO_LAYOUT
        stream.codec_context.bit_rate = AUDIO_BITRATE
        container.start_encoding()
        track = _AudioTrack(self, stream)
        track.start()
        return track

    # -- the re-encoding path -------------------------------------------------

    def encode(self, container: OutputContainer) -> None:
        stream: VideoStream = container.add_stream(
            "libx264", rate=self.fps, options=dict(X264_OPTIONS)
        )
        stream.width, stream.height = self.size
        stream.pix_fmt = "yuv420p"
        track = self.start_audio(container)
        try:
            time_base = Fraction(1, self.fps)
            pts = 0
            for index, item in enumerate(self.plan.items):
                for frame in self._scene_frames(item, self.slots[index][1]):
                    self.check()
                    frame.pts = pts
                    frame.time_base = time_base
                    pts += 1
                    container.mux(stream.encode(frame))
                    self.advance()
                container.mux(track.packets())
            container.mux(stream.encode(None))
            container.mux(track.packets())
        finally:
            track.halt()

    def _scene_frames(self, item: CutItem, count: int) -> Iterator[VideoFrame]:
        if count == 0:
            return
        if item.clip is not None:
            yield from self._clip_frames(item, item.clip, count)
            return
        still = item.still
        if still is not None:
            picture = letterbox(_labelled(item, lambda: load_still(still)), self.size)
        else:
            picture = title_card(item.narration, self.size)
        frame = _picture_frame(picture)
        for _ in range(count):
            yield frame

    def _clip_frames(self, item: CutItem, path: Path, count: int) -> Iterator[VideoFrame]:
        converted: VideoFrame | None = None
        source: RawFrame | None = None
        try:
            with closing(iter_raw_frames(path)) as frames:
                for raw in _held(frames, count, self.fps):
                    if raw is not source:
                        source = raw
                        converted = _fit_frame(raw.frame, self.size)
                    assert converted is not None
                    yield converted
        except MediaError as error:
            raise _with_label(item, error) from None

    # -- the copying path ---------------------------------------------------------

    def copy(self, container: OutputContainer, copy_plan: _CopyPlan) -> None:
        first = copy_plan.scans[0].path
        with av.open(str(first), mode="r") as template_source:
            stream = container.add_stream_from_template(template_source.streams.video[0])
        time_base = Fraction(1, self.fps * TICKS_PER_FRAME)
        stream.time_base = time_base
        track = self.start_audio(container)
        try:
            self._copy_scenes(container, copy_plan, stream, track, time_base)
        finally:
            track.halt()

    def _copy_scenes(
        self,
        container: OutputContainer,
        copy_plan: _CopyPlan,
        stream: VideoStream,
        track: _AudioTrack,
        time_base: Fraction,
    ) -> None:
        copied = [index for index, count in enumerate(copy_plan.counts) if count]
        final = copied[-1]
        origin = copy_plan.scans[copied[0]].dts[0]  # earlier scenes last 0 frames
        for index, item in enumerate(self.plan.items):
            scan, count = copy_plan.scans[index], copy_plan.counts[index]
            start, slot = self.slots[index]
            packets = _read_packets(item, scan.path)
            # A short clip's last frame is held by the next scene starting later; at the
            # film's end only durations can hold it. MP4 takes the presentation end from
            # the last-shown frame (pts + duration) and the decode span from the last
            # packet (dts + duration, counted from the first dts): both must reach the end.
            peak = scan.frames.index(max(scan.frames[:count])) if count else -1
            written = 0
            for packet in packets:
                if written == count:
                    break
                self.check()
                frame = start + scan.frames[written]
                packet.time_base = time_base
                packet.pts = frame * TICKS_PER_FRAME
                packet.dts = (start + scan.dts[written]) * TICKS_PER_FRAME
                duration = 1
                if index == final and written == peak:
                    duration = max(duration, self.total - frame)
                if index == final and written == count - 1:
                    duration = max(duration, self.total + origin - (start + scan.dts[written]))
                packet.duration = duration * TICKS_PER_FRAME
                written += 1
                packet.stream = stream
                container.mux_one(packet)
            packets.close()
            if written < count:
                raise _with_label(item, media_error(scan.path, "changed while being exported"))
            self.advance(slot)
            container.mux(track.packets())
        container.mux(track.packets())


def _read_packets(item: CutItem, path: Path) -> Generator[Packet[Any], None, None]:
    """The clip's video packets in decode order; read errors become MediaError naming it.

    A generator, so errors from muxing in the caller's loop never pass through here
    and cannot be mistaken for a bad clip.
    """
    try:
        with av.open(str(path), mode="r") as source:
            for packet in source.demux(source.streams.video[0]):
                if packet.pts is not None and packet.size:
                    yield packet
    except FileNotFoundError:
        raise _with_label(item, media_error(path, "no such clip")) from None
    except DECODE_ERRORS as error:
        raise _with_label(item, media_error(path, "stopped reading", error)) from None


def _labelled(item: CutItem, load: Callable[[], Image.Image]) -> Image.Image:
    try:
        return load()
    except MediaError as error:
        raise _with_label(item, error) from None


def _with_label(item: CutItem, error: MediaError) -> MediaError:
    return MediaError(f"{item.label}: {error}") if item.label else error


def _preflight(plan: CutPlan) -> None:
    """Every input exists and opens, before a byte of output is written."""
    for item in plan.items:
        try:
            if item.clip is not None:
                probe_clip(item.clip)
            elif item.still is not None:
                _check_still(item.still)
            if item.audio is not None:
                check_extension(item.audio)
                _check_audio(item.audio)
        except MediaError as error:
            raise _with_label(item, error) from None


def _check_still(path: Path) -> None:
    try:
        with Image.open(path) as opened:
            opened.verify()
    except FileNotFoundError:
        raise media_error(path, "no such still") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        raise media_error(path, "not a readable image", error) from None


def _check_audio(path: Path) -> None:
    try:
        with av.open(str(path), mode="r") as container:
            if not container.streams.audio:
                raise media_error(path, "has no audio stream")
    except MediaError:
        raise
    except FileNotFoundError:
        raise media_error(path, "no such audio file") from None
    except DECODE_ERRORS as error:
        raise media_error(path, "cannot be decoded as audio", error) from None


def assemble(
    plan: CutPlan,
    output: Path,
    *,
    name: str | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    video: VideoMode = "auto",
) -> CutResult:
    """Write the rough cut to `output` (the caller's temp path) and fsync it.

    `name` is how errors name the film (the final path, not the temp one).
    `video="encode"` re-encodes even when copying would do (to compare the
    two). On any failure or cancel, `output` is removed if it is a regular
    file, and MediaError (one line) or CutCancelled is raised.
    """
    shown = name or str(output)
    if not plan.items:
        raise MediaError("nothing to export: the storyboard has no scenes")
    if plan.fps < 1:
        raise MediaError(f"the project's frame rate {plan.fps} is not a frame rate")
    writer = _Writer(plan, output, shown, progress, cancel)
    if writer.total == 0:
        raise MediaError("nothing to export: every scene lasts 0 s")
    _preflight(plan)
    copy_plan = plan_copy(plan) if video == "auto" else "re-encoding was asked for"
    if isinstance(copy_plan, _CopyPlan):
        reason = "every clip is H.264 at the film's size and fps and fits its scene"
    else:
        reason = copy_plan
    try:
        container = av.open(str(output), mode="w", format="mp4", options=dict(MUX_OPTIONS))
    except DECODE_ERRORS as error:
        _remove_regular(output)
        raise MediaError(f"cannot write {shown}: {describe(error)}") from None
    try:
        try:
            if isinstance(copy_plan, _CopyPlan):
                writer.copy(container, copy_plan)
            else:
                writer.encode(container)
        finally:
            container.close()
        _fsync(output)
    except (MediaError, CutCancelled):
        _remove_regular(output)
        raise
    except DECODE_ERRORS as error:
        _remove_regular(output)
        raise MediaError(f"cannot write {shown}: {describe(error)}") from None
    except BaseException:
        _remove_regular(output)
        raise
    return CutResult(
        path=output,
        copied=isinstance(copy_plan, _CopyPlan),
        reason=reason,
        frames=writer.total,
        seconds=writer.total / plan.fps,
        slots=[count for _, count in writer.slots],
    )
