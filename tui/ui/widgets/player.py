"""Clip playback in the picture area, and the 3-frame strip shown while nothing plays.

Frames are decoded in a thread worker (PyAV), scaled by FFmpeg to the cell
box, and drawn with textual-image under the same renderer setting as the
still. The worker keeps the clip's clock: a frame that is due is handed to the
screen only once the previous one has been painted (the screen acknowledges
each frame after its refresh), and a frame whose successor is already due is
dropped. So a slow terminal sees fewer frames, never a clip running slow.

`Player` is driven from outside (attributes down, messages up): the screen
calls `play_clip()` for `p`, `play_items()` for `P`, and `stop()` when the
selection moves; the player posts `ItemStarted` when a sequence reaches the
next scene (the list's cursor follows) and `Stopped` when playback ends.
"""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import textual_image.renderable
from PIL import Image as PILImage
from rich.color import Color, ColorType
from rich.color_triplet import ColorTriplet
from rich.segment import Segment
from rich.style import Style
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.content import Content
from textual.filter import ANSIToTruecolor, DimFilter, LineFilter
from textual.message import Message
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Static
from textual.worker import Worker
from textual_image._terminal import get_cell_size  # measured once, at import (pinned)
from textual_image.renderable.halfcell import Image as HalfcellRenderable
from textual_image.widget import HalfcellImage

from tui.config import ImageRenderer
from tui.media.errors import MediaError
from tui.media.frames import Pacer, iter_raw_frames, probe_clip, thumbnails
from tui.media.pictures import Size, fit_size, load_still
from tui.media.playlist import PlayItem
from tui.ui.text import one_line
from tui.ui.widgets.still import RENDERERS

CELL_PIXELS_FALLBACK = (10, 20)
"""A VT340's cell, textual-image's own guess when the terminal will not say."""
CELL_PIXEL_RENDERERS = frozenset({"kitty", "sixel"})
"""Renderers that draw real pixels; the others draw 1×2 (half-block) pixels per cell."""
STILL_SECONDS = 3.0
"""How long a still or title card shows when the item does not say."""
STYLE_CACHE_LIMIT = 4_096
"""Colour pairs kept between frames. Small on purpose: every kept Style is traversed
by each full garbage collection, and a large cache made those pauses cost frames."""
PLAYING = "▶ playing · space pauses, esc stops"
PAUSED = "‖ paused · space resumes"
"""Captions under the picture (‖, not ⏸: many terminal fonts lack the pause sign)."""
MAX_PIXELS = 1280 * 720
"""Terminal graphics above this size cost more to send than a terminal shows."""


def resolve_renderer(renderer: ImageRenderer) -> ImageRenderer:
    """What "auto" means in this terminal: the renderer textual-image picked at import."""
    if renderer != "auto":
        return renderer
    chosen = textual_image.renderable.Image
    if chosen is textual_image.renderable.HalfcellImage:
        return "halfblock"
    if chosen is textual_image.renderable.UnicodeImage:
        return "unicode"
    if chosen is textual_image.renderable.SixelImage:
        return "sixel"
    return "kitty"


def pixel_box(renderer: ImageRenderer, cells: Size) -> Size:
    """The picture size in pixels that a box of `cells` shows under this renderer."""
    columns, rows = max(1, cells[0]), max(1, cells[1])
    if resolve_renderer(renderer) not in CELL_PIXEL_RENDERERS:
        return columns, rows * 2  # half-blocks and the unicode renderer: 2 pixels per cell
    width, height = CELL_PIXELS_FALLBACK
    try:
        size = get_cell_size()
        width, height = size.width or width, size.height or height
    except Exception:  # no terminal to ask: keep the guess
        pass
    box_w, box_h = columns * width, rows * height
    scale = min(1.0, (MAX_PIXELS / (box_w * box_h)) ** 0.5)
    return max(1, int(box_w * scale)), max(1, int(box_h * scale))


_HEX = [f"{value:02x}" for value in range(256)]


class VideoHalfcellImage(HalfcellImage, Renderable=HalfcellRenderable):
    """textual-image's half-block picture widget, drawing each frame straight into strips.

    The stock renderable builds two Colors and a Style per cell through Rich's
    console, then Textual combines each with the widget style and renders it
    to escape codes again: at 60×20 cells that is most of a core at 16 fps. A
    video frame is drawn here line by line (Textual's Line API), one Style per
    colour pair kept between frames, runs of equal cells merged, and the escape
    codes of a truecolor style worked out once. Sizing (how many cells a
    picture takes) stays textual-image's; any other kind of image it draws as usual.
    """

    def __init__(
        self,
        image: Any = None,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        super().__init__(image, name=name, id=id, classes=classes, disabled=disabled)
        self._strips: list[Strip] = []
        self._strips_key: tuple[int, int, int] | None = None
        self._styles: dict[bytes, Style] = {}
        self._colors: dict[bytes, Color] = {}

    @property
    def image(self) -> Any:
        return super().image

    @image.setter
    def image(self, value: Any) -> None:
        """A frame the same size as the last one only needs a repaint, not a new layout."""
        old = self._image
        if (
            isinstance(value, PILImage.Image)
            and isinstance(old, PILImage.Image)
            and value.size == old.size
        ):
            self._image = value
            self.refresh()
            return
        HalfcellImage.image.fset(self, value)  # type: ignore[attr-defined]

    def render_line(self, y: int) -> Strip:
        picture = self._image
        if not isinstance(picture, PILImage.Image):
            return super().render_line(y)
        width, height = self.content_size
        key = (id(picture), width, height)
        if key != self._strips_key:
            self._strips = self._draw(picture, width, height)
            self._strips_key = key
        if 0 <= y < len(self._strips):
            return self._strips[y]
        return Strip.blank(width)

    def _draw(self, picture: PILImage.Image, width: int, height: int) -> list[Strip]:
        if width <= 0 or height <= 0:
            return []
        if picture.mode != "RGB":
            picture = picture.convert("RGB")
        if picture.size != (width, height * 2):
            picture = picture.resize((width, height * 2))
        data = picture.tobytes()
        row = width * 3
        styles = self._styles
        if len(styles) > STYLE_CACHE_LIMIT:
            styles.clear()
            self._colors.clear()
        truecolor = self.app.console.color_system == "truecolor"
        strips: list[Strip] = []
        for top in range(0, len(data), row * 2):
            upper = data[top : top + row]
            lower = data[top + row : top + 2 * row]
            segments: list[Segment] = []
            run_style: Style | None = None
            run = 0
            for x in range(0, row, 3):
                pair = upper[x : x + 3] + lower[x : x + 3]
                style = styles.get(pair)
                if style is None:
                    style = styles[pair] = self._style(pair, truecolor)
                if style is run_style:
                    run += 1
                    continue
                if run_style is not None:
                    segments.append(Segment("▀" * run, run_style))
                run_style, run = style, 1
            if run_style is not None:
                segments.append(Segment("▀" * run, run_style))
            strips.append(Strip(segments, width))
        return strips

    def _style(self, pair: bytes, truecolor: bool) -> Style:
        style = Style.from_color(self._color(pair[:3]), self._color(pair[3:]))
        if truecolor:  # what Textual would work out and store itself, done in one step
            style._ansi = f"38;2;{pair[0]};{pair[1]};{pair[2]};48;2;{pair[3]};{pair[4]};{pair[5]}"
        return style

    def _color(self, rgb: bytes) -> Color:
        color = self._colors.get(rgb)
        if color is None:
            red, green, blue = rgb
            # What Color.from_rgb builds, without its per-call validation and formatting.
            triplet = tuple.__new__(ColorTriplet, (red, green, blue))
            name = f"#{_HEX[red]}{_HEX[green]}{_HEX[blue]}"
            color = tuple.__new__(Color, (name, ColorType.TRUECOLOR, None, triplet))
            self._colors[rgb] = color
        return color

    def get_line_filters(self) -> Sequence[LineFilter]:
        """The app's filters less those that cannot change a truecolor, non-dim cell.

        Converting ANSI colours to truecolor and dimming leave every cell of a
        picture as it was, yet cost a new segment per cell per frame.
        """
        return [
            line_filter
            for line_filter in super().get_line_filters()
            if not isinstance(line_filter, ANSIToTruecolor | DimFilter)
        ]


PLAYER_RENDERERS: dict[str, type[Widget]] = {**RENDERERS, "halfblock": VideoHalfcellImage}
"""As the still's, with half-blocks swapped for the video-friendly variant."""


def picture_widget(renderer: ImageRenderer, **kwargs: Any) -> Widget:
    """The textual-image widget for a moving picture under this renderer setting."""
    return PLAYER_RENDERERS[resolve_renderer(renderer)](**kwargs)


_gc_holders: set[int] = set()


def _hold_gc(holder: object, hold: bool) -> None:
    """Keep the garbage collector off the app's existing heap while something plays.

    Drawing a frame allocates thousands of short-lived objects, which keeps
    triggering full collections; each one walks every object the app owns and
    stalled playback for 50-250 ms, several times a clip (measured with the
    playback benchmark). `gc.freeze()` sets the heap as it is aside for the
    duration, so collections only walk what playback itself made; `unfreeze()`
    hands it all back to the collector when the last playback ends.
    """
    key = id(holder)
    if hold and key not in _gc_holders:
        if not _gc_holders:
            gc.freeze()
        _gc_holders.add(key)
    elif not hold and key in _gc_holders:
        _gc_holders.discard(key)
        if not _gc_holders:
            gc.unfreeze()


class _Session:
    """One playback: the items, the clock, and the handshakes with the screen.

    Runs in the worker thread; the screen talks to it only through events and
    the pacer (under a lock), so it can be stopped or paused at any moment.
    """

    def __init__(self, player: Player, items: Sequence[PlayItem], loop: bool) -> None:
        self.player = player
        self.items = list(items)
        self.loop = loop
        self.stopped = threading.Event()
        self.ready = threading.Event()
        """Set when the screen has painted the last frame it was given."""
        self.ready.set()
        self.wake = threading.Event()
        """Set on pause, resume and stop, to cut short any wait."""
        self._lock = threading.Lock()
        self._pacer = Pacer()
        self.dropped = 0
        self.dropped_busy = 0
        """Of the dropped frames, those the screen had no time to paint."""
        self.loops = 0

    def box(self) -> Size:
        """The picture area in pixels, read per frame so a resize is followed at once."""
        return pixel_box(self.player.renderer, self.player.cell_box())

    # -- control, from the UI thread --------------------------------------------

    def stop(self) -> None:
        self.stopped.set()
        self.ready.set()
        self.wake.set()

    def set_paused(self, paused: bool) -> None:
        with self._lock:
            if paused:
                self._pacer.pause()
            else:
                self._pacer.resume()
        self.wake.set()

    # -- the worker ----------------------------------------------------------------

    def run(self) -> None:
        finished, error = False, None
        try:
            finished = self._run()
        except MediaError as exc:
            error = str(exc)
        except Exception as exc:  # a player must never take the app down
            error = f"playback failed: {exc}"
        self.player.post_message(Player._Ended(self, finished and not self.stopped.is_set(), error))

    def _run(self) -> bool:
        index = 0
        while not self.stopped.is_set():
            item = self.items[index]
            self.player.post_message(Player._Started(self, index, item.scene_id))
            with self._lock:
                self._pacer.start(0.0)
            self._play(item, single=len(self.items) == 1)
            index += 1
            if index == len(self.items):
                if not self.loop:
                    return True
                index = 0
                self.loops += 1
        return False

    def _play(self, item: PlayItem, *, single: bool) -> None:
        if item.clip is not None:
            try:
                self._play_clip(item.clip, item.seconds)
                return
            except MediaError as error:
                if single and item.still is None:
                    raise
                self.player.post_message(Player._Note(self, str(error)))
        seconds = item.seconds if item.seconds is not None else STILL_SECONDS
        picture: PILImage.Image | None = None
        if item.still is not None:
            try:
                picture = load_still(item.still)
            except MediaError as error:
                self.player.post_message(Player._Note(self, str(error)))
        if not self._wait_ready(None):
            return
        if picture is not None:
            picture = picture.resize(fit_size(picture.width, picture.height, self.box()))
            self._deliver(picture, 0.0)
        else:
            # Words drawn as pixels are unreadable in half-blocks: the card is text.
            self.player.post_message(Player._Title(self, item.narration))
        self._wait_until(seconds)

    def _play_clip(self, path: Path, seconds: float | None) -> None:
        info = probe_clip(path)
        interval = 1.0 / float(info.fps) if info.fps else 1.0 / 16
        end = 0.0
        started = False
        for raw in iter_raw_frames(path):
            if self.stopped.is_set():
                return
            if not started:  # the clock starts when the first picture exists, not before
                started = True
                with self._lock:
                    self._pacer.start(raw.time)
            if seconds is not None and raw.time >= seconds - 1e-6:
                break
            end = raw.time + interval
            if not self._wait_unpaused():
                return
            if self._late(raw.time, interval):
                self.dropped += 1  # decoding had to happen; converting and drawing need not
                continue
            picture = raw.image(self.box())
            if not self._wait_until(raw.time):
                return
            if not self._wait_ready(raw.time + interval):
                self.dropped += 1  # the screen is still busy with the last one
                self.dropped_busy += 1
                continue
            self._deliver(picture, raw.time)
        self._wait_until(seconds if seconds is not None else end)

    def _late(self, media_time: float, interval: float) -> bool:
        with self._lock:
            return self._pacer.is_late(media_time, interval)

    def _delay(self, media_time: float) -> float:
        with self._lock:
            return self._pacer.delay(media_time)

    def _wait_unpaused(self) -> bool:
        while not self.stopped.is_set():
            with self._lock:
                if not self._pacer.paused:
                    return True
            self.wake.wait(0.25)
            self.wake.clear()
        return False

    def _wait_until(self, media_time: float) -> bool:
        """Sleep until `media_time` is due (longer while paused); False when stopped."""
        while not self.stopped.is_set():
            delay = self._delay(media_time)
            if delay <= 0:
                return True
            self.wake.wait(min(delay, 0.25))
            self.wake.clear()
        return False

    def _wait_ready(self, deadline: float | None) -> bool:
        """Wait for the screen to paint the previous frame, at most until `deadline` is due."""
        while not self.stopped.is_set():
            if self.ready.is_set():
                return True
            delay = 0.25 if deadline is None else self._delay(deadline)
            if delay <= 0:
                return False
            self.ready.wait(min(delay, 0.25))
        return False

    def _deliver(self, picture: PILImage.Image, media_time: float) -> None:
        self.ready.clear()
        self.player.post_message(Player._Frame(self, picture, media_time))


class Player(Widget, can_focus=True):
    """Plays a clip, or a storyboard of clips, stills and title cards, in the cell box."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "space",
            "toggle_pause",
            "Pause",
            id="player.pause",
            tooltip="Pause or resume playback",
        ),
    ]
    """
    | Key | Description |
    | :- | :- |
    | space | Pause or resume playback. |
    """

    DEFAULT_CSS = """
    Player {
        height: 12;
        width: 1fr;
        layout: vertical;
        & > #picture { width: auto; height: 1fr; }
        & > #title {
            display: none;
            height: 1fr;
            content-align: center middle;
            text-align: center;
            text-style: italic;
            background: black;
            color: white;
        }
        & > #caption { height: 1; color: $foreground-muted; }
        &.-off > #picture, &.-title > #picture { display: none; }
        &.-title > #title { display: block; }
    }
    """
    """The picture (or a title card's words) fills the box above a one-line caption."""

    playing: reactive[bool] = reactive(False, init=False, repaint=False)
    """A playback is running (paused or not)."""
    paused: reactive[bool] = reactive(False, init=False, repaint=False)
    """The running playback is paused."""
    caption: reactive[str] = reactive("", init=False, repaint=False)
    """Plain text under the picture."""

    @dataclass
    class ItemStarted(Message):
        """The playback reached item `index` (scene `scene_id`): the list's cursor can follow."""

        player: Player
        index: int
        scene_id: int | None

        @property
        def control(self) -> Player:
            return self.player

    @dataclass
    class Stopped(Message):
        """Playback ended: ran out (`finished`), was stopped, or failed (`error`, one line)."""

        player: Player
        finished: bool
        error: str | None = None

        @property
        def control(self) -> Player:
            return self.player

    class _Frame(Message, bubble=False):
        """A picture from the worker, due now."""

        def __init__(self, session: _Session, picture: PILImage.Image, time: float) -> None:
            super().__init__()
            self.session = session
            self.picture = picture
            self.time = time

    class _Started(Message, bubble=False):
        def __init__(self, session: _Session, index: int, scene_id: int | None) -> None:
            super().__init__()
            self.session = session
            self.index = index
            self.scene_id = scene_id

    class _Title(Message, bubble=False):
        """A title card: the narration shown as text in the picture's place."""

        def __init__(self, session: _Session, text: str) -> None:
            super().__init__()
            self.session = session
            self.text = text

    class _Note(Message, bubble=False):
        def __init__(self, session: _Session, text: str) -> None:
            super().__init__()
            self.session = session
            self.text = text

    class _Ended(Message, bubble=False):
        def __init__(self, session: _Session, finished: bool, error: str | None) -> None:
            super().__init__()
            self.session = session
            self.finished = finished
            self.error = error

    def __init__(
        self,
        renderer: ImageRenderer = "auto",
        *,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.renderer: ImageRenderer = renderer
        self._picture: Widget | None = None
        self._session: _Session | None = None
        self._worker: Worker[None] | None = None
        self.frames_shown = 0
        """Frames painted in the current playback (each acknowledged after a screen refresh)."""
        self.frame_time: float | None = None
        """The media time of the frame on screen, seconds from its item's start."""
        self.item_index: int | None = None
        """The item playing now."""
        self.title_text: str | None = None
        """The title card's words while one shows, else None."""
        self._last_dropped = 0
        self._last_busy = 0

    def compose(self) -> ComposeResult:
        if self.renderer != "off":
            self._picture = picture_widget(self.renderer, id="picture")
            yield self._picture
        yield Static(id="title")
        yield Static(id="caption")

    def on_mount(self) -> None:
        self.set_class(self.renderer == "off", "-off")
        self._watch_caption(self.caption)

    def on_unmount(self) -> None:
        if self._session is not None:
            self._session.stop()
            self._session = None
        _hold_gc(self, False)

    # -- driving it --------------------------------------------------------------

    @property
    def frames_dropped(self) -> int:
        """Frames decoded but not shown in the current playback, to keep time."""
        return self._session.dropped if self._session is not None else self._last_dropped

    @property
    def frames_dropped_busy(self) -> int:
        """Of the dropped frames, those dropped because the screen was still painting."""
        return self._session.dropped_busy if self._session is not None else self._last_busy

    @property
    def loops(self) -> int:
        """How many times the current playback has wrapped round to its start."""
        return self._session.loops if self._session is not None else 0

    def cell_box(self) -> Size:
        """The picture area in cells: the widget less its caption line.

        Before the first layout there is no size yet; a 16:9-friendly 60×20 is
        assumed then, and the next frame follows the real one.
        """
        width, height = self.content_size
        if width < 2 or height < 3:
            return 60, 20
        return width, height - 1

    def play_clip(self, path: Path, *, scene_id: int | None = None, loop: bool = True) -> None:
        """Play one clip at its fps, looping by default (`p`)."""
        self.play_items([PlayItem(clip=path, scene_id=scene_id)], loop=loop)

    def play_items(self, items: Sequence[PlayItem], *, loop: bool = False) -> None:
        """Play scenes one after another (`P`): clips, stills for N s, title cards for N s."""
        self.stop()
        if not items:
            self.post_message(self.Stopped(self, finished=True))
            return
        if self.renderer == "off":
            self.caption = "Playback needs pictures: the image renderer is off."
            self.post_message(self.Stopped(self, finished=False, error=self.caption))
            return
        session = _Session(self, items, loop)
        self._session = session
        self.frames_shown = 0
        self.frame_time = None
        self.item_index = None
        self.paused = False
        self.playing = True
        self.caption = PLAYING
        _hold_gc(self, True)
        self._worker = self.run_worker(
            session.run, thread=True, group="player", exit_on_error=False, name="player"
        )

    def stop(self) -> None:
        """Stop now; the picture is cleared. Posts `Stopped(finished=False)` if it was playing."""
        session = self._session
        if session is None:
            return
        self._session = None
        self._last_dropped, self._last_busy = session.dropped, session.dropped_busy
        session.stop()
        _hold_gc(self, False)
        self.playing = False
        self.paused = False
        self.caption = ""
        self._show(None)
        self._show_title(None)
        self.post_message(self.Stopped(self, finished=False))

    def pause(self, paused: bool = True) -> None:
        if self._session is None or paused == self.paused:
            return
        self._session.set_paused(paused)
        self.paused = paused
        self.caption = PAUSED if paused else PLAYING

    def action_toggle_pause(self) -> None:
        """Space: pause, or carry on from the same frame."""
        self.pause(not self.paused)

    # -- from the worker -------------------------------------------------------------

    @on(_Frame)
    def _on_frame(self, message: _Frame) -> None:
        session = message.session
        if session is not self._session:
            return
        self._show(message.picture)
        self.frame_time = message.time
        self.frames_shown += 1
        self.call_after_refresh(self._painted, session)

    def _painted(self, session: _Session) -> None:
        session.ready.set()

    @on(_Started)
    def _on_started(self, message: _Started) -> None:
        if message.session is not self._session:
            return
        self.item_index = message.index
        self.post_message(self.ItemStarted(self, message.index, message.scene_id))

    @on(_Title)
    def _on_title(self, message: _Title) -> None:
        session = message.session
        if session is not self._session:
            return
        self._show(None)
        self._show_title(message.text)
        self.frames_shown += 1
        self.call_after_refresh(self._painted, session)

    @on(_Note)
    def _on_note(self, message: _Note) -> None:
        if message.session is self._session:
            self.caption = message.text

    @on(_Ended)
    def _on_ended(self, message: _Ended) -> None:
        if message.session is not self._session:
            return
        self._session = None
        _hold_gc(self, False)
        self._last_dropped = message.session.dropped
        self._last_busy = message.session.dropped_busy
        self.playing = False
        self.paused = False
        if message.error is not None:
            self.caption = message.error
            self._show(None)
            self._show_title(None)
        elif self.caption in (PLAYING, PAUSED):
            self.caption = ""  # a note about a scene that could not play stays up
        self.post_message(self.Stopped(self, finished=message.finished, error=message.error))

    # -- showing ---------------------------------------------------------------------

    def _watch_caption(self, caption: str) -> None:
        if self.is_mounted:
            self.query_one("#caption", Static).update(Content(one_line(caption)))

    def _show(self, picture: PILImage.Image | None) -> None:
        if picture is not None:
            self._show_title(None)
        if self._picture is not None:
            self._picture.image = picture  # type: ignore[attr-defined]

    def _show_title(self, text: str | None) -> None:
        self.title_text = text
        self.set_class(text is not None, "-title")
        if self.is_mounted:
            self.query_one("#title", Static).update(Content(one_line(text or "")))


class ClipStrip(Horizontal):
    """The clip at a glance while nothing plays: its first, middle and last frames."""

    DEFAULT_CSS = """
    ClipStrip {
        height: 4;
        width: 1fr;
        & > .thumb { width: auto; height: 1fr; margin-right: 1; }
        &.-off, &.-empty { display: none; }
    }
    """
    """Three pictures in a row; hidden with no clip or with pictures off."""

    source: reactive[Path | None] = reactive(None, init=False, repaint=False)
    """The clip whose thumbnails are shown, or None."""

    def __init__(
        self, renderer: ImageRenderer = "auto", *, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.renderer: ImageRenderer = renderer
        self._thumbs: list[Widget] = []
        self._generation = 0
        self.error: str | None = None
        """Why the last clip has no thumbnails (one line), or None."""

    def compose(self) -> ComposeResult:
        if self.renderer == "off":
            return
        for index in range(3):
            thumb = picture_widget(self.renderer, id=f"thumb-{index}", classes="thumb")
            self._thumbs.append(thumb)
            yield thumb

    def on_mount(self) -> None:
        self.set_class(self.renderer == "off", "-off")
        self.add_class("-empty")

    @property
    def pictures(self) -> list[PILImage.Image | None]:
        """What each of the three thumbnails shows now."""
        return [getattr(thumb, "image", None) for thumb in self._thumbs]

    async def _watch_source(self, source: Path | None) -> None:
        self._generation += 1
        generation = self._generation
        if not self._thumbs:
            return
        pictures: list[PILImage.Image] | None = None
        self.error = None
        if source is not None:
            width, height = self.content_size
            cells = (max(1, (width - 2) // 3), max(1, height))
            try:
                pictures = await self._decode(source, pixel_box(self.renderer, cells))
            except MediaError as error:
                self.error = str(error)
        if generation != self._generation:
            return  # a newer clip was chosen while this one decoded
        for index, thumb in enumerate(self._thumbs):
            thumb.image = pictures[index] if pictures else None  # type: ignore[attr-defined]
        self.set_class(pictures is None, "-empty")

    async def _decode(self, source: Path, box: Size) -> list[PILImage.Image]:
        return await asyncio.to_thread(thumbnails, source, box)
