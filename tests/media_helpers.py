"""Real media for the media tests: tiny H.264 clips, narration audio and stills.

Each clip frame is one flat grey whose level encodes its index, so a test can
tell which source frame it is looking at after any decode, copy or re-encode.
"""

from __future__ import annotations

import math
import struct
import wave
from fractions import Fraction
from pathlib import Path
from typing import cast

import av
from av.audio.stream import AudioStream
from av.video.stream import VideoStream
from PIL import Image, ImageStat

from tui.media.frames import pil_image, video_frame

LEVEL_STEP = 12
LEVEL_BASE = 30


def level_of(index: int) -> int:
    """The grey level of frame `index` (wraps after 18 frames)."""
    return LEVEL_BASE + (index % 18) * LEVEL_STEP


def index_of(level: float) -> int:
    """The frame index a measured grey level stands for (modulo 18)."""
    return round((level - LEVEL_BASE) / LEVEL_STEP) % 18


def mean_level(image: Image.Image, box: tuple[int, int, int, int] | None = None) -> float:
    """Mean luma of the image (or of `box` in it)."""
    area = image.crop(box) if box else image
    return float(ImageStat.Stat(area.convert("L")).mean[0])


def write_clip(
    path: Path,
    *,
    frames: int = 8,
    fps: int = 8,
    size: tuple[int, int] = (64, 48),
    bframes: bool = True,
    codec: str = "libx264",
    start_index: int = 0,
    gop: int | None = None,
) -> Path:
    """An MP4 of flat grey frames, frame i at level_of(start_index + i).

    Near-lossless (qp 4), so levels survive a re-encode. `bframes=False` makes
    a stream whose decode order is its display order.
    """
    options = {"preset": "ultrafast", "qp": "4"} if codec == "libx264" else {}
    if codec == "libx264":
        options["bframes"] = "3" if bframes else "0"
        if bframes:  # ultrafast turns B-frames off; these bring them back
            options["x264-params"] = "b-adapt=0:bframes=3:b-pyramid=normal"
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = cast(VideoStream, container.add_stream(codec, rate=fps, options=options))
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        if gop is not None:
            stream.codec_context.gop_size = gop
        for index in range(frames):
            image = Image.new("RGB", size, (level_of(start_index + index),) * 3)
            frame = video_frame(image).reformat(format="yuv420p")
            frame.pts = index
            frame.time_base = Fraction(1, fps)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def write_wav(path: Path, seconds: float, *, rate: int = 16_000, freq: float = 440.0) -> Path:
    """A mono 16-bit sine with the stdlib `wave` module."""
    count = round(seconds * rate)
    samples = (round(12_000 * math.sin(2 * math.pi * freq * i / rate)) for i in range(count))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"".join(struct.pack("<h", s) for s in samples))
    return path


def write_audio(path: Path, seconds: float, *, codec: str, rate: int = 48_000) -> Path:
    """A sine in any container PyAV can write (mp3, m4a, ogg, flac), from a wav source."""
    source = write_wav(path.with_suffix(".src.wav"), seconds, rate=rate)
    formats = {".mp3": "mp3", ".m4a": "ipod", ".ogg": "ogg", ".flac": "flac"}
    with av.open(str(source)) as inp, av.open(str(path), "w", format=formats[path.suffix]) as out:
        stream = cast(AudioStream, out.add_stream(codec, rate=rate))
        stream.layout = "mono"
        for frame in inp.decode(audio=0):
            frame.pts = None
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    source.unlink()
    return path


def write_png(path: Path, color: tuple[int, int, int], size: tuple[int, int] = (64, 48)) -> Path:
    Image.new("RGB", size, color).save(path)
    return path


def decoded_levels(path: Path) -> list[tuple[float, float]]:
    """(time, mean grey level) of every frame of the file's video."""
    with av.open(str(path)) as container:
        return [(frame.time, mean_level(pil_image(frame))) for frame in container.decode(video=0)]


def video_packets(path: Path) -> list[bytes]:
    """The raw bytes of every video packet, in decode order."""
    with av.open(str(path)) as container:
        return [bytes(p) for p in container.demux(video=0) if p.size]
