"""The scene's still (or a job's live preview), drawn with textual-image.

textual-image picks Kitty or Sixel graphics where the terminal has them and
half-blocks otherwise; the `image_renderer` setting can pin one or turn the
picture off. Pictures are decoded off the event loop, and into memory, so a
still that the engine deletes after a new take can never break a repaint.
"""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import ClassVar

from PIL import Image as PILImage
from textual.app import ComposeResult
from textual.containers import Container
from textual.content import Content
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Static

from tui.config import ImageRenderer

RENDERERS: dict[str, type[Widget]] = {}
PICTURES_OFF = ""
"""Why pictures cannot be drawn in this terminal at all, or empty."""
try:
    # textual-image asks the terminal for its cell size when it is imported; a
    # terminal that reports 0 columns (a fresh pty, some multiplexers) breaks it.
    from textual_image.widget import HalfcellImage, SixelImage, TGPImage, UnicodeImage
    from textual_image.widget import Image as AutoImage
except Exception as error:  # never let a picture library take the editor down
    PICTURES_OFF = f"pictures are off: the terminal did not report its size ({error!r})"
else:
    RENDERERS.update(
        {
            "auto": AutoImage,
            "kitty": TGPImage,
            "sixel": SixelImage,
            "halfblock": HalfcellImage,
            "unicode": UnicodeImage,
        }
    )

MAX_PIXELS = (960, 960)
"""Pictures are shrunk to this before drawing; a terminal cell shows far fewer pixels."""


def decode(source: Path | bytes) -> PILImage.Image:
    """Read a picture fully into memory, shrunk for the terminal."""
    data = source.read_bytes() if isinstance(source, Path) else source
    with PILImage.open(io.BytesIO(data)) as opened:
        picture = opened.convert("RGB")
    picture.thumbnail(MAX_PIXELS)
    return picture


class StillView(Container):
    """A picture with a caption, or a line saying why there is none."""

    DEFAULT_CSS = """
    StillView {
        height: auto;
        width: 1fr;
        & > #picture {
            width: auto;
            height: 10;
        }
        & > #caption {
            color: $foreground-muted;
            height: auto;
        }
        &.-off > #picture, &.-empty > #picture { display: none; }
    }
    """

    source: reactive[Path | bytes | None] = reactive(None, init=False, repaint=False)
    """A still's path, a preview's bytes, or None."""
    caption: reactive[str] = reactive("", init=False, repaint=False)
    """Plain text under the picture (file name, "live preview")."""

    RENDERERS: ClassVar[dict[str, type[Widget]]] = RENDERERS

    def __init__(
        self, renderer: ImageRenderer = "auto", *, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.renderer = renderer
        self._picture: Widget | None = None
        self._decode_generation = 0

    def compose(self) -> ComposeResult:
        if self.renderer != "off" and self.renderer in RENDERERS:
            self._picture = RENDERERS[self.renderer](id="picture")
            yield self._picture
        yield Static(id="caption")

    def on_mount(self) -> None:
        self.set_class(self._picture is None, "-off")
        self.add_class("-empty")
        self._show_caption()

    def _watch_caption(self) -> None:
        self._show_caption()

    def _show_caption(self) -> None:
        caption = self.caption
        if PICTURES_OFF and self.renderer != "off" and self.source is not None:
            caption = f"{caption} ({PICTURES_OFF})" if caption else PICTURES_OFF
        label = self.query_one("#caption", Static)
        if str(label.content) != caption:
            label.update(Content(caption), layout=False)  # one line: no layout pass needed

    async def _watch_source(self, source: Path | bytes | None) -> None:
        self._decode_generation += 1
        generation = self._decode_generation
        if self._picture is None:
            return
        if source is None:
            self._set_picture(None)
            return
        try:
            picture = await asyncio.to_thread(decode, source)
        except (OSError, ValueError, PILImage.DecompressionBombError):
            picture = None
        if generation == self._decode_generation:  # a newer source arrived while decoding
            self._set_picture(picture)

    def _set_picture(self, picture: PILImage.Image | None) -> None:
        assert self._picture is not None
        self._picture.image = picture  # type: ignore[attr-defined]
        self.set_class(picture is None, "-empty")
