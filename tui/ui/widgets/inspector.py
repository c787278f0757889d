"""The inspector: the selected scene's prompts, camera and motion, why it is dirty, and its still.

Edits leave as messages: `Edited` on every change and `Blurred` when focus
leaves a field. The editor session keeps the unsaved edits (and saves them
after a pause, on blur, before a regeneration and on quit); the inspector
reads them back through `drafts_for`, so a field with an edit not saved yet,
or the field the user is in, is never overwritten by a reload.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Select, Static, TextArea

from tui.config import ImageRenderer
from tui.domain.camera import CAMERA_OPTIONS as DOMAIN_CAMERA_OPTIONS
from tui.domain.models import AssetKind, AssetState, Scene
from tui.domain.staleness import Reason, SceneStatus
from tui.media.playlist import PlayItem
from tui.ui.model import MediaInfo
from tui.ui.session import Failure
from tui.ui.text import one_line, plain
from tui.ui.widgets.motion import MotionControl
from tui.ui.widgets.still import StillView

try:
    # Playback draws with textual-image, which asks the terminal its cell size when
    # imported; a terminal that cannot say (0 columns) leaves the editor without it.
    from tui.ui.widgets.player import ClipStrip, Player
except Exception:  # pragma: no cover - depends on the terminal the app starts in
    PLAYBACK = False
else:
    PLAYBACK = True

CAMERA_OPTIONS = list(DOMAIN_CAMERA_OPTIONS)
"""The nine moves as a menu, with the same labels the why-dirty lines use."""

STATE_WORDS = {
    AssetState.CLEAN: "up to date",
    AssetState.DIRTY: "dirty",
    AssetState.MISSING: "missing",
    AssetState.NONE: "no prompt",
}

FIELD_IDS = {
    "narration": "narration",
    "audio_duration": "duration",
    "image_prompt": "image-prompt",
    "negative_prompt": "negative-prompt",
    "seed": "seed",
    "video_prompt": "video-prompt",
    "camera": "camera",
    "motion": "motion",
}
"""Scene field → widget id; the inverse names the field a widget edits."""
FIELDS_BY_ID = {widget_id: field for field, widget_id in FIELD_IDS.items()}


def _set_text(widget: Static, content: Content, *, layout: bool = False) -> None:
    """Update a label only when its text changed. A layout pass of the screen costs tens
    of milliseconds, so a fixed single line never asks for one."""
    if str(widget.content) != content.plain:
        widget.update(content, layout=layout)


def _reason_line(reason: Reason) -> Content:
    """ "• image workflow changed" and, dim, the technical detail after it."""
    line = Content(f"• {plain(reason.text)}")
    if reason.detail:
        line = Content.assemble(line, (f" · {one_line(reason.detail)}", "dim"))
    return line


class PromptArea(TextArea):
    """A one-paragraph text field: Enter moves to the next field instead of adding a line.

    A newline in a prompt is invisible on screen and means nothing to a model;
    it used to be the commonest way to mark a scene stale by accident.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "app.focus_next", "Next field", show=False, priority=True),
    ]

    def __init__(self, *, id: str) -> None:
        super().__init__(id=id, soft_wrap=True, tab_behavior="focus", compact=True)


def audio_line(scene: Scene) -> str:
    """Where the scene's length comes from: its narration audio, or the number typed."""
    if not scene.audio_file:
        return "no narration audio"
    return f"narration audio: {plain(Path(scene.audio_file).name)}"


class Inspector(VerticalScroll, can_focus=False):
    """Edit one scene. Attributes down (`scene`, `status`, …), messages up."""

    BINDINGS: ClassVar[list[BindingType]] = []

    DEFAULT_CSS = """
    Inspector {
        background: $surface;
        padding: 0 1;
        scrollbar-size-vertical: 1;
        & #fields > .heading {
            text-style: bold;
            color: $foreground;
            margin-top: 1;
        }
        & #fields > #title { margin-top: 0; color: $foreground-muted; text-style: none; }
        & #fields > .why {
            height: auto;
            min-height: 1;
            text-wrap: nowrap;
            text-overflow: ellipsis;
        }
        & #fields > .error {
            height: auto;
            color: $asset-failed;
            display: none;
            &.-shown { display: block; }
        }
        & #fields > #image-why { color: $image-dirty; }
        & #fields > #video-why { color: $video-dirty; }
        & #fields > #image-heading.-dirty { color: $image-dirty; }
        & #fields > #video-heading.-dirty { color: $video-dirty; }
        & #fields > .heading.-missing { color: $asset-missing; }
        & #fields > .heading.-clean { color: $success; }
        & #fields > .heading.-failed { color: $asset-failed; }
        & #fields > .row { height: auto; width: 1fr; margin-top: 1; }
        & #fields > .row.-tight { margin-top: 0; }
        & .field-label { color: $foreground-muted; width: 9; }
        & .field-label.-after { width: auto; padding: 0 1 0 2; }
        & .row > TextArea, & .row > Input, & .row > MotionControl {
            background: $panel;
            &:focus { background: $accent 15%; }
        }
        & .row > Select > SelectCurrent { background: $panel; }
        & .row > Select:focus > SelectCurrent { background: $accent 15%; }
        & .row > TextArea { height: 3; width: 1fr; }
        & #video-prompt, & #negative-prompt, & #narration { height: 2; }
        & .row > #duration { width: 10; }
        & .row > #audio {
            width: 1fr;
            color: $foreground-muted;
            padding-left: 2;
            text-wrap: nowrap;
            text-overflow: ellipsis;
        }
        & .row > Input { width: 1fr; }
        & .row > #seed { width: 13; }
        & .row > Select { width: 22; }
        & .row > MotionControl { width: 1fr; }
        & #fields > Button { margin-top: 1; text-style: bold; }
        /* Buttons are coloured by their text on a neutral ground: a tinted dark ground
           has no good match among 256 colours (it came out dark red or olive). */
        & #fields > #regenerate-image { color: $image-dirty; background: $panel; }
        & #fields > #regenerate-video { color: $video-dirty; background: $panel; }
        & #fields > Button:focus { background: $accent 35%; text-style: bold reverse; }
        & #fields > Button:disabled { color: $foreground-muted; background: $boost; }
        & #fields > Button.-hidden { visibility: hidden; }
        & #fields > Button.-failed { color: $asset-failed; background: $panel; }
        & #fields > #preview { display: none; }
        & #fields > #preview.-shown { display: block; }
        & #fields > Player { display: none; margin-top: 1; }
        & #fields.-playing > Player { display: block; }
        & #fields.-playing > #still, & #fields.-playing > #strip { display: none; }
        & #fields > StillView { margin-top: 1; }
        & #fields > #edit-error {
            color: $error;
            text-style: bold;
            display: none;
            &.-shown { display: block; }
        }
        & #fields > #video-file { color: $foreground-muted; margin-top: 1; }
        & #fields > #strip { margin-top: 1; }
        & > #fields { height: auto; }
        & > #empty { color: $foreground-muted; margin-top: 1; display: none; }
    }
    """

    scene: reactive[Scene | None] = reactive(None, init=False, repaint=False, always_update=True)
    """The scene shown; a new id reloads every field, the same id only the idle ones."""
    status: reactive[SceneStatus | None] = reactive(None, init=False, repaint=False)
    """Image and video states, possibly of an unsaved draft."""
    reasons: reactive[dict[AssetKind, list[Reason]]] = reactive(dict, init=False, repaint=False)
    """The why-dirty lines per kind, each with its technical detail."""
    failures: reactive[dict[AssetKind, Failure]] = reactive(dict, init=False, repaint=False)
    """The assets whose last job failed, with the error and its time."""
    image_busy: reactive[bool] = reactive(False, init=False, repaint=False)
    """An image job for this scene is queued or running."""
    video_busy: reactive[bool] = reactive(False, init=False, repaint=False)
    """A video job for this scene is queued or running."""
    media: reactive[MediaInfo] = reactive(MediaInfo, init=False, repaint=False, always_update=True)
    """The still, a running job's live preview, and the clip's name and length."""
    error: reactive[str] = reactive("", init=False, repaint=False)
    """A one-line message about the last edit that could not be saved."""
    scene_count: reactive[int] = reactive(0, init=False, repaint=False)
    """How many scenes the project has, for the title."""
    empty_text: reactive[str] = reactive("No scene selected.", init=False, repaint=False)
    """What the inspector says when no scene is shown (the list's filter matched none)."""

    @dataclass
    class Edited(Message):
        """A field changed in the widget; the session saves it after a pause."""

        inspector: Inspector
        scene_id: int
        field: str
        value: Any

        @property
        def control(self) -> Inspector:
            return self.inspector

    @dataclass
    class Blurred(Message):
        """Focus left a field: a good moment to save what was typed."""

        inspector: Inspector

        @property
        def control(self) -> Inspector:
            return self.inspector

    @dataclass
    class RegenerateRequested(Message):
        """A Regenerate button was pressed."""

        inspector: Inspector
        scene_id: int
        kind: AssetKind

        @property
        def control(self) -> Inspector:
            return self.inspector

    def __init__(
        self,
        *,
        renderer: ImageRenderer = "auto",
        cursor_blink: bool = True,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.renderer = renderer
        self.cursor_blink = cursor_blink
        self._loaded: dict[str, Any] = {}
        """What each field was last loaded with, so loading it never reads as an edit."""
        self.drafts_for: Callable[[int], Mapping[str, Any]] = lambda scene_id: {}
        """The unsaved edits of a scene; the screen points it at the editor session."""

    def compose(self) -> ComposeResult:
        yield Static("No scene selected.", id="empty", markup=False)
        with Vertical(id="fields"):
            yield from self._compose_fields()

    def _compose_fields(self) -> ComposeResult:
        yield Static(id="title", classes="heading", markup=False)
        with Horizontal(classes="row -tight"):
            yield Label("Narration", classes="field-label")
            yield PromptArea(id="narration")
        with Horizontal(classes="row -tight"):
            yield Label("Seconds", classes="field-label")
            yield Input(id="duration", restrict=r"[0-9.]*", max_length=8, compact=True)
            yield Static(id="audio", markup=False)
        yield Static(id="edit-error", markup=False)
        yield Static("Image", id="image-heading", classes="heading", markup=False)
        yield Static(id="image-why", classes="why", markup=False)
        yield Static(id="image-error", classes="error", markup=False)
        with Horizontal(classes="row -tight"):
            yield Label("Prompt", classes="field-label")
            yield PromptArea(id="image-prompt")
        with Horizontal(classes="row -tight"):
            yield Label("Negative", classes="field-label")
            yield PromptArea(id="negative-prompt")
            yield Label("Seed", classes="field-label -after")
            yield Input(id="seed", restrict=r"[0-9]*", max_length=10, compact=True)
        yield Button("Regenerate Image", id="regenerate-image", compact=True)
        yield StillView(self.renderer, id="still")
        if PLAYBACK:
            yield Player(self.renderer, id="player")
        yield StillView(self.renderer, id="preview")
        yield Static("Video", id="video-heading", classes="heading", markup=False)
        yield Static(id="video-why", classes="why", markup=False)
        yield Static(id="video-error", classes="error", markup=False)
        with Horizontal(classes="row -tight"):
            yield Label("Prompt", classes="field-label")
            yield PromptArea(id="video-prompt")
        with Horizontal(classes="row -tight"):
            yield Label("Camera", classes="field-label")
            yield Select(CAMERA_OPTIONS, id="camera", allow_blank=False, compact=True)
            yield Label("Motion", classes="field-label -after")
            yield MotionControl(id="motion")
        yield Button("Regenerate Video", id="regenerate-video", compact=True)
        yield Static(id="video-file", markup=False)
        if PLAYBACK:
            yield ClipStrip(self.renderer, id="strip")

    def on_mount(self) -> None:
        for text_area in self.query(TextArea):
            text_area.cursor_blink = self.cursor_blink
        for field_input in self.query(Input):
            field_input.cursor_blink = self.cursor_blink
        self._show_scene(self.scene, force=True)
        self._show_states()
        self._show_media()

    # -- showing -------------------------------------------------------------

    def show(
        self,
        scene: Scene,
        *,
        status: SceneStatus,
        reasons: dict[AssetKind, list[Reason]],
        failures: dict[AssetKind, Failure],
        image_busy: bool,
        video_busy: bool,
        media: MediaInfo,
    ) -> None:
        """Everything about one scene at once: one pass over the fields, not one per value.

        Setting each reactive in turn redrew the states five times per key press.
        """
        old = self.scene
        self.set_reactive(Inspector.scene, scene)
        self.set_reactive(Inspector.status, status)
        self.set_reactive(Inspector.reasons, reasons)
        self.set_reactive(Inspector.failures, failures)
        self.set_reactive(Inspector.image_busy, image_busy)
        self.set_reactive(Inspector.video_busy, video_busy)
        self.set_reactive(Inspector.media, media)
        self._show_scene(scene, force=old is None or old.id != scene.id)
        self._show_states()
        self._show_media()

    def _watch_scene(self, old: Scene | None, new: Scene | None) -> None:
        self._show_scene(new, force=old is None or new is None or old.id != new.id)

    def _show_scene(self, scene: Scene | None, *, force: bool) -> None:
        if not self.is_mounted:
            return
        # `display`, not a class: a class on this container would restyle every field.
        self.query_one("#empty").display = scene is None
        self.query_one("#fields").display = scene is not None
        if scene is None:
            return
        title = f"Scene {scene.position}"
        if self.scene_count:
            title += f" of {self.scene_count}"
        _set_text(self.query_one("#title", Static), Content(title))
        _set_text(self.query_one("#audio", Static), Content(audio_line(scene)))
        drafts = self.drafts_for(scene.id)
        for field, widget_id in FIELD_IDS.items():
            widget = self.query_one(f"#{widget_id}")
            if field in drafts or (not force and widget.has_focus):
                continue  # never overwrite what the user typed and has not saved yet
            self._load_field(widget, field, getattr(scene, field))

    def _load_field(self, widget: Widget, field: str, value: Any) -> None:
        if isinstance(widget, TextArea):
            text = plain(value, multiline=True)
            if widget.text != text:
                with widget.prevent(TextArea.Changed):
                    widget.load_text(text)
            self._loaded[field] = text
        elif isinstance(widget, Input):
            text = plain(f"{value:g}" if isinstance(value, float) else str(value))
            if widget.value != text:
                with widget.prevent(Input.Changed):
                    widget.value = text
            self._loaded[field] = text
        elif isinstance(widget, Select):
            if widget.value != value:
                with widget.prevent(Select.Changed):
                    widget.value = value
            self._loaded[field] = value
        elif isinstance(widget, MotionControl):
            widget.value = value
            self._loaded[field] = widget.value

    def _watch_empty_text(self, text: str) -> None:
        if self.is_mounted:
            self.query_one("#empty", Static).update(Content(text))

    def _watch_scene_count(self) -> None:
        self._show_scene(self.scene, force=False)

    def _watch_status(self) -> None:
        self._show_states()

    def _watch_reasons(self) -> None:
        self._show_states()

    def _watch_image_busy(self) -> None:
        self._show_states()

    def _watch_video_busy(self) -> None:
        self._show_states()

    def _watch_failures(self) -> None:
        self._show_states()

    def _show_states(self) -> None:
        status = self.status
        if status is None or not self.is_mounted:
            return
        for kind, busy in ((AssetKind.IMAGE, self.image_busy), (AssetKind.VIDEO, self.video_busy)):
            state = status.of(kind)
            name = kind.value
            failure = None if busy else self.failures.get(kind)
            heading = self.query_one(f"#{name}-heading", Static)
            words = "regenerating…" if busy else "failed" if failure else STATE_WORDS[state]
            _set_text(heading, Content(f"{name.capitalize()} · {words}"))
            for cls, on_ in (
                ("-dirty", state is AssetState.DIRTY),
                ("-missing", state in (AssetState.MISSING, AssetState.NONE)),
                ("-clean", state is AssetState.CLEAN),
                ("-failed", failure is not None),
            ):
                heading.set_class(on_ and not busy, cls)
            lines = self.reasons.get(kind, []) if state is not AssetState.CLEAN else []
            # The line is always there (empty when clean), so typing never shifts the form.
            _set_text(
                self.query_one(f"#{name}-why", Static),
                Content("\n").join(_reason_line(reason) for reason in lines),
                layout=True,
            )
            error = self.query_one(f"#{name}-error", Static)
            if failure is not None:
                stamp = failure.when.astimezone().strftime("%H:%M")
                message = plain(failure.message, multiline=True)
                _set_text(error, Content(f"✗ failed at {stamp}: {message}"), layout=True)
            if error.has_class("-shown") != (failure is not None):
                error.set_class(failure is not None, "-shown")
            button = self.query_one(f"#regenerate-{name}", Button)
            wanted = busy or failure is not None or state in (AssetState.DIRTY, AssetState.MISSING)
            button.set_class(not wanted, "-hidden")
            button.set_class(failure is not None, "-failed")
            button.disabled = busy or not wanted
            if busy:
                button.label = "Regenerating…"
            elif failure is not None:
                button.label = f"Retry {name.capitalize()}"
            else:
                button.label = f"Regenerate {name.capitalize()}"

    def _watch_media(self, media: MediaInfo) -> None:
        self._show_media()

    def _show_media(self) -> None:
        if not self.is_mounted:
            return
        media = self.media
        still = self.query_one("#still", StillView)
        if media.still is not None:
            still.source = media.still
            still.caption = plain(media.still.name)
        else:
            still.source = None
            still.caption = "no image yet"
        if PLAYBACK:
            self.query_one(ClipStrip).source = media.video
        preview = self.query_one("#preview", StillView)
        preview.set_class(media.preview is not None, "-shown")
        preview.source = media.preview
        preview.caption = media.preview_label
        if media.video_name is None:
            text = "Clip: none yet"
        else:
            text = f"Clip: {plain(media.video_name)}"
            if media.video_seconds is not None:
                approx = "" if media.video_measured else "≈ "
                text += f" · {approx}{media.video_seconds:.1f} s"
        _set_text(self.query_one("#video-file", Static), Content(text))

    def _watch_error(self, error: str) -> None:
        if not self.is_mounted:
            return
        label = self.query_one("#edit-error", Static)
        label.update(Content(plain(error)))
        label.set_class(bool(error), "-shown")

    # -- playing -------------------------------------------------------------

    @property
    def playing(self) -> bool:
        return PLAYBACK and self.query_one(Player).playing

    def play(self, items: list[PlayItem], *, loop: bool) -> str | None:
        """Play in the picture area; returns why it cannot, or None."""
        if not PLAYBACK:
            return "playback is off: this terminal did not report its size"
        self.query_one("#fields").add_class("-playing")
        self.query_one(Player).play_items(items, loop=loop)
        return None

    def stop_playing(self) -> None:
        if PLAYBACK:
            self.query_one(Player).stop()
            self.query_one("#fields").remove_class("-playing")

    def toggle_pause(self) -> None:
        if PLAYBACK:
            self.query_one(Player).action_toggle_pause()

    def on_player_stopped(self) -> None:
        """The still and the strip come back when playback ends, however it ends."""
        self.query_one("#fields").remove_class("-playing")

    # -- editing -------------------------------------------------------------

    def focus_first(self) -> None:
        """`enter` from the list: start editing at the image prompt.

        Focus moves now, not after a refresh, so keys typed right after
        enter land in the prompt rather than in the list.
        """
        self.screen.set_focus(self.query_one("#image-prompt", TextArea))

    def _edited(self, field: str, value: Any) -> None:
        scene = self.scene
        if scene is None:
            return
        if self._loaded.get(field) == value and field not in self.drafts_for(scene.id):
            return
        self._loaded[field] = value
        self.post_message(self.Edited(self, scene.id, field, value))

    @on(TextArea.Changed)
    def _text_changed(self, event: TextArea.Changed) -> None:
        field = FIELDS_BY_ID.get(event.text_area.id or "")
        if field is not None:
            self._edited(field, event.text_area.text)

    @on(Input.Changed)
    def _input_changed(self, event: Input.Changed) -> None:
        field = FIELDS_BY_ID.get(event.input.id or "")
        if field is not None:
            self._edited(field, event.value)

    @on(Input.Submitted)
    def _input_submitted(self, event: Input.Submitted) -> None:
        self.post_message(self.Blurred(self))

    @on(Select.Changed)
    def _select_changed(self, event: Select.Changed) -> None:
        field = FIELDS_BY_ID.get(event.select.id or "")
        if field is not None and event.value is not Select.NULL:
            self._edited(field, event.value)
            self.post_message(self.Blurred(self))  # a pick is final: save it now

    @on(MotionControl.Changed)
    def _motion_changed(self, event: MotionControl.Changed) -> None:
        self._edited("motion", event.value)

    def on_descendant_blur(self, event: events.DescendantBlur) -> None:
        self.post_message(self.Blurred(self))

    @on(Button.Pressed, "#regenerate-image")
    def _regenerate_image(self, event: Button.Pressed) -> None:
        event.stop()
        if self.scene is not None:
            self.post_message(self.RegenerateRequested(self, self.scene.id, AssetKind.IMAGE))

    @on(Button.Pressed, "#regenerate-video")
    def _regenerate_video(self, event: Button.Pressed) -> None:
        event.stop()
        if self.scene is not None:
            self.post_message(self.RegenerateRequested(self, self.scene.id, AssetKind.VIDEO))
