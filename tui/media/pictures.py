"""Pictures made or fitted for a frame: a still letterboxed to size, and a title card.

Both the rough cut (at the project's resolution) and the player (at the size
of its cell box) show a scene with no clip this way, so the two always agree.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Iterator
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, UnidentifiedImageError

from tui.media.errors import media_error

Size = tuple[int, int]
RGB = tuple[int, int, int]
AnyFont = ImageFont.FreeTypeFont | ImageFont.ImageFont

BACKGROUND: RGB = (0, 0, 0)
"""Letterbox bars and the title card's ground: black, as in a cinema."""
INK: RGB = (235, 235, 235)


def fit_size(width: int, height: int, box: Size) -> Size:
    """The largest size with the picture's aspect that fits in `box` (never below 1×1)."""
    box_w, box_h = box
    if width <= 0 or height <= 0 or box_w <= 0 or box_h <= 0:
        raise ValueError(f"cannot fit {width}x{height} into {box_w}x{box_h}")
    scale = min(box_w / width, box_h / height)
    return max(1, min(box_w, round(width * scale))), max(1, min(box_h, round(height * scale)))


def letterbox(image: Image.Image, size: Size) -> Image.Image:
    """The picture scaled to fit `size` exactly, centred on black bars; RGB.

    Fitting rather than cropping keeps every part of the picture: a rough cut
    is for judging the film, and a cropped head would mislead.
    """
    image = image.convert("RGB")
    if image.size == size:
        return image
    inner = fit_size(image.width, image.height, size)
    scaled = image.resize(inner, Image.Resampling.BILINEAR, reducing_gap=2.0)
    if inner == size:
        return scaled
    canvas = Image.new("RGB", size, BACKGROUND)
    canvas.paste(scaled, ((size[0] - inner[0]) // 2, (size[1] - inner[1]) // 2))
    return canvas


def load_still(path: Path | str) -> Image.Image:
    """A still read fully into memory as RGB; MediaError naming the file otherwise."""
    try:
        with Image.open(path) as opened:
            return opened.convert("RGB")
    except FileNotFoundError:
        raise media_error(path, "no such still") from None
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as error:
        raise media_error(path, "not a readable image", error) from None


@functools.lru_cache(maxsize=16)
def _font(size: int) -> AnyFont:
    """Pillow's bundled font: nothing to ship, the same on every machine."""
    return ImageFont.load_default(size=size)


def _printable(text: str, font: AnyFont) -> str:
    """Narration as one line of drawable words: no control or format characters."""
    kept = []
    for ch in text:
        category = unicodedata.category(ch)
        if category.startswith("C") or category in ("Zl", "Zp"):
            kept.append(" ")
        else:
            kept.append(ch)
    words = " ".join("".join(kept).split())
    if not isinstance(font, ImageFont.FreeTypeFont):  # the bitmap fallback knows Latin-1 only
        words = words.encode("latin-1", "replace").decode("latin-1")
    return words


def _pieces(text: str, font: AnyFont, max_width: float) -> Iterator[str]:
    """The words, with any word wider than a line broken into line-wide chunks."""
    for word in text.split(" "):
        if font.getlength(word) <= max_width:
            yield word
            continue
        chunk = ""
        for ch in word:
            if chunk and font.getlength(chunk + ch) > max_width:
                yield chunk
                chunk = ""
            chunk += ch
        if chunk:
            yield chunk


def _wrap(text: str, font: AnyFont, max_width: float, max_lines: int) -> list[str]:
    """Greedy word wrap by pixel width; long words are broken, overflow ends in an ellipsis."""
    lines: list[str] = []
    line = ""
    for piece in _pieces(text, font, max_width):
        candidate = f"{line} {piece}" if line else piece
        if font.getlength(candidate) <= max_width:
            line = candidate
            continue
        if line:
            lines.append(line)
        line = piece
        if len(lines) > max_lines:
            break
    if line:
        lines.append(line)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        last = lines[-1]
        while last and font.getlength(last + "…") > max_width:
            last = last[:-1]
        lines[-1] = last.rstrip() + "…"
    return lines


def title_card(text: str, size: Size) -> Image.Image:
    """The narration in light type on black, centred: what a scene with no picture shows."""
    width, height = size
    card = Image.new("RGB", size, BACKGROUND)
    font_size = max(8, min(64, round(height / 12)))
    if width < font_size * 4 or height < font_size * 2:
        return card  # too small for legible words; a black card still keeps the time
    font = _font(font_size)
    line_h = round(font_size * 1.3)
    margin = width * 0.1
    max_lines = max(1, int((height * 0.8) // line_h))
    lines = _wrap(_printable(text, font), font, width - 2 * margin, max_lines)
    draw = ImageDraw.Draw(card)
    top = (height - line_h * len(lines)) / 2
    for index, line in enumerate(lines):
        x = (width - font.getlength(line)) / 2
        draw.text((x, top + index * line_h), line, font=font, fill=INK)
    return card
