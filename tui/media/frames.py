"""A clip's frames for the screen: decoded with PyAV, scaled to a pixel box, paced to the clock.

The decoder yields frames in presentation order with their time from the
clip's first frame. Scaling happens in FFmpeg's swscale straight from YUV to a
small RGB picture, which is most of the cost saved: a terminal cell box holds
a few thousand pixels, a 720p frame nearly a million.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, cast

import av
import av.error
from av.container import InputContainer
from av.video.frame import VideoFrame
from av.video.stream import VideoStream
from PIL import Image

from tui.media.errors import media_error
from tui.media.pictures import Size, fit_size

DECODE_ERRORS = (av.error.FFmpegError, OSError, ValueError, EOFError)
"""What PyAV raises for a missing, truncated or corrupt file."""


@dataclass(frozen=True, slots=True)
class ClipInfo:
    """What the container says about a clip's video stream."""

    path: Path
    codec: str
    width: int
    height: int
    fps: Fraction
    """Average frame rate; 0 when the file does not say."""
    duration: float
    """Seconds, from the stream or container header (an estimate, not a decode)."""
    frames: int
    """Frame count from the header, or duration × fps when the header has none."""
    pix_fmt: str


@dataclass(frozen=True, slots=True)
class Frame:
    """A picture and when it is shown, in seconds from the clip's first frame."""

    time: float
    image: Image.Image


@dataclass(frozen=True, slots=True)
class RawFrame:
    """A decoded frame not yet converted: the player drops late frames before paying for it."""

    time: float
    frame: VideoFrame

    def image(self, box: Size) -> Image.Image:
        """The frame as RGB, scaled by swscale to fit `box` with its aspect kept."""
        return to_image(self.frame, box)


def _open_clip(path: Path | str) -> InputContainer:
    try:
        return av.open(str(path), mode="r")
    except FileNotFoundError:
        raise media_error(path, "no such clip") from None
    except DECODE_ERRORS as error:
        raise media_error(path, "not a readable video", error) from None


def _video_stream(path: Path | str, container: InputContainer) -> VideoStream:
    if not container.streams.video:
        raise media_error(path, "has no video stream")
    return container.streams.video[0]


def _stream_seconds(stream: VideoStream, container: InputContainer) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return 0.0


def probe_clip(path: Path | str) -> ClipInfo:
    """The clip's codec, size, frame rate and length from its headers; MediaError if unreadable."""
    with _open_clip(path) as container:
        stream = _video_stream(path, container)
        ctx = stream.codec_context
        fps = Fraction(stream.average_rate or stream.base_rate or 0)
        seconds = _stream_seconds(stream, container)
        frames = stream.frames or (round(seconds * fps) if fps else 0)
        return ClipInfo(
            path=Path(path),
            codec=ctx.name,
            width=ctx.width,
            height=ctx.height,
            fps=fps,
            duration=seconds,
            frames=frames,
            pix_fmt=ctx.pix_fmt or "",
        )


def pil_image(frame: VideoFrame, **reformat: Any) -> Image.Image:
    """`VideoFrame.to_image`, typed (PyAV's stub leaves it untyped)."""
    return cast(Image.Image, frame.to_image(**reformat))  # type: ignore[no-untyped-call]


def video_frame(image: Image.Image) -> VideoFrame:
    """`VideoFrame.from_image`, typed (PyAV's stub leaves it untyped)."""
    return cast(VideoFrame, VideoFrame.from_image(image))  # type: ignore[no-untyped-call]


def to_image(frame: VideoFrame, box: Size) -> Image.Image:
    """RGB picture of `frame` fitted into `box`, scaled in swscale (area filter for shrinking)."""
    width, height = fit_size(frame.width, frame.height, box)
    if (width, height) == (frame.width, frame.height):
        return pil_image(frame)
    shrinking = width < frame.width
    return pil_image(
        frame, width=width, height=height, interpolation="AREA" if shrinking else "BILINEAR"
    )


def iter_raw_frames(
    path: Path | str, *, start: float = 0.0, threads: bool = True
) -> Generator[RawFrame, None, None]:
    """Every frame from `start` seconds on, in presentation order, not yet converted.

    Times count from the clip's first frame, whatever the container's start
    time. Raises MediaError (naming the file) when it cannot open or stops
    decoding; a clip with no frames at all is an error too.
    """
    with _open_clip(path) as container:
        stream = _video_stream(path, container)
        if threads:
            stream.thread_type = "AUTO"  # frame threads: throughput over latency
        origin: float | None = None
        if start > 0 and stream.time_base is not None:
            first = stream.start_time or 0
            try:
                container.seek(first + int(start / stream.time_base), stream=stream)
            except DECODE_ERRORS:
                container.seek(0)
            origin = float(first * stream.time_base)
        count = 0
        try:
            for frame in container.decode(stream):
                if frame.pts is None:
                    continue
                seconds = frame.time
                if origin is None:
                    origin = seconds
                offset = seconds - origin
                if offset < start - 1e-6:
                    continue
                count += 1
                yield RawFrame(max(0.0, offset), frame)
        except DECODE_ERRORS as error:
            raise media_error(path, "stopped decoding", error) from None
        if count == 0:
            raise media_error(path, "holds no video frames")


def decode_frames(path: Path | str, box: Size, *, start: float = 0.0) -> Iterator[Frame]:
    """Every frame as a PIL picture fitted into `box` (pixels), with its time."""
    for raw in iter_raw_frames(path, start=start):
        yield Frame(raw.time, raw.image(box))


def thumbnails(path: Path | str, box: Size) -> list[Image.Image]:
    """The first, middle and last frames fitted into `box`: the clip at a glance.

    The middle is the first frame at or after half the clip's length. Only the
    start, a seek to the middle and a seek near the end are decoded, so a long
    clip costs about as much as a short one.
    """
    info = probe_clip(path)
    first: VideoFrame | None = None
    middle: VideoFrame | None = None
    last: VideoFrame | None = None
    frame_time = 1.0 / float(info.fps) if info.fps else 0.1
    if info.duration <= 4.0:  # short: one pass, keeping only the three frames
        half = info.duration / 2 - 1e-6
        for raw in iter_raw_frames(path, threads=False):
            first = first or raw.frame
            if middle is None and raw.time >= half:
                middle = raw.frame
            last = raw.frame
        middle = middle or last
    else:
        for raw in iter_raw_frames(path, threads=False):
            first = raw.frame
            break
        for raw in iter_raw_frames(path, start=info.duration / 2, threads=False):
            middle = raw.frame
            break
        tail_start = max(0.0, info.duration - 1.0 - frame_time)
        for raw in iter_raw_frames(path, start=tail_start, threads=False):
            last = raw.frame
    if first is None or middle is None or last is None:
        raise media_error(path, "holds too few frames for thumbnails")
    return [to_image(frame, box) for frame in (first, middle, last)]


class Pacer:
    """Maps a clip's media time onto the wall clock, so playback keeps time.

    A frame is due when the clock reaches its media time. One that is so late
    that the next frame is already due is dropped: the picture skips ahead
    rather than the whole clip drifting behind the clock. Pausing freezes the
    media time; resuming moves the origin by the time spent paused.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._origin = clock()
        self._paused_at: float | None = None

    @property
    def paused(self) -> bool:
        return self._paused_at is not None

    def start(self, media_time: float = 0.0) -> None:
        """Media time `media_time` is now; keeps a pause in force."""
        now = self._clock()
        self._origin = now - media_time
        if self._paused_at is not None:
            self._paused_at = now

    def pause(self) -> None:
        if self._paused_at is None:
            self._paused_at = self._clock()

    def resume(self) -> None:
        if self._paused_at is not None:
            self._origin += self._clock() - self._paused_at
            self._paused_at = None

    def position(self) -> float:
        """The media time now (frozen while paused)."""
        now = self._paused_at if self._paused_at is not None else self._clock()
        return now - self._origin

    def delay(self, media_time: float) -> float:
        """Seconds until `media_time` is due; negative when it is late; inf while paused."""
        if self._paused_at is not None:
            return math.inf
        return media_time - self.position()

    def is_late(self, media_time: float, interval: float) -> bool:
        """True when the frame after this one (`interval` later) is already due: drop it."""
        return self.delay(media_time) <= -interval
