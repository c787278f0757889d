"""Every action a user can take, declared once: its key, footer label, help text and palette title.

Bindings, the footer, the help screen and the command palette are all made
from these, so a key remapped in the user's keymap shows the same everywhere
and no list is kept by hand in two places.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from textual.app import App
from textual.binding import Binding, BindingType


@dataclass(frozen=True)
class PaletteCommand:
    """One palette entry: its title, a line of help, and the screen action it runs."""

    title: str
    help: str
    action: str


UNSENDABLE = {
    "ctrl+i": "Tab",
    "ctrl+m": "Enter",
    "ctrl+j": "Enter",
    "ctrl+h": "Backspace",
    "ctrl+[": "Escape",
    "ctrl+left_square_bracket": "Escape",
}
"""Keys a terminal sends as another key: bound, they would never fire, and they would
take that other key (Tab, Enter) away from everything else."""


def sendable_keymap(keymap: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """The user's keymap without keys a terminal cannot send, and a warning per refusal."""
    kept: dict[str, str] = {}
    warnings: list[str] = []
    defaults = {command.id: command.key for command in ALL_COMMANDS}
    for binding_id, keys in keymap.items():
        wanted = [key.strip() for key in keys.split(",") if key.strip()]
        bad = [key for key in wanted if key.lower() in UNSENDABLE]
        good = [key for key in wanted if key.lower() not in UNSENDABLE]
        for key in bad:
            default = defaults.get(binding_id) or "its default key"
            warnings.append(
                f"keymap: {key} for {binding_id} cannot be typed in a terminal (it arrives "
                f"as {UNSENDABLE[key.lower()]}); keeping {default}"
            )
        if good:
            kept[binding_id] = ",".join(good)
    return kept, warnings


@dataclass(frozen=True)
class Command:
    """One action: where it is bound and how it is described."""

    id: str
    """The binding id users remap in their keymap ("regenerate.image")."""
    action: str
    description: str
    """The footer's short label."""
    tooltip: str
    """What it does, for help and the palette."""
    key: str | None = None
    """Default key(s); None for palette-only commands."""
    palette: str | None = None
    """The palette's namespaced title; None keeps it out of the palette."""
    show: bool = True
    priority: bool = False

    def binding(self) -> Binding:
        assert self.key is not None
        return Binding(
            self.key,
            self.action,
            self.description,
            show=self.show,
            id=self.id,
            tooltip=self.tooltip,
            priority=self.priority,
        )


APP_COMMANDS = (
    Command(
        "app.quit",
        "quit",
        "Quit",
        "Save what is typed and quit",
        key="ctrl+q",
        show=False,
        priority=True,
    ),
    Command(
        "app.command_palette",
        "command_palette",
        "Commands",
        "Open the command palette",
        key="ctrl+p",
        priority=True,
    ),
)

SCREEN_COMMANDS = (
    Command(
        "regenerate.image",
        "regenerate('image')",
        "Image",
        "Regenerate the selected scene's image",
        key="i",
        palette="Regenerate: image of this scene",
    ),
    Command(
        "regenerate.video",
        "regenerate('video')",
        "Video",
        "Regenerate the selected scene's video",
        key="v",
        palette="Regenerate: video of this scene",
    ),
    Command(
        "regenerate.both",
        "regenerate_both",
        "Both",
        "Regenerate the selected scene's image, then its video",
        key="b",
        palette="Regenerate: image and video of this scene",
    ),
    Command(
        "regenerate.new_take_image",
        "new_take('image')",
        "New take",
        "A new image even though it is up to date (draws a new seed)",
        key="n",
        palette="Regenerate: new take of this image",
        show=False,
    ),
    Command(
        "regenerate.new_take_video",
        "new_take('video')",
        "New take",
        "A new video even though it is up to date",
        palette="Regenerate: new take of this video",
    ),
    Command(
        "regenerate.dirty_images",
        "batch('image')",
        "All images",
        "Regenerate every dirty (or missing) image",
        key="I",
        palette="Regenerate: all dirty images",
    ),
    Command(
        "regenerate.dirty_videos",
        "batch('video')",
        "All videos",
        "Regenerate every dirty (or missing) video",
        key="V",
        palette="Regenerate: all dirty videos",
    ),
    Command(
        "regenerate.all_dirty",
        "batch_all",
        "All dirty",
        "Regenerate everything dirty: images first, then their videos",
        key="a",
        palette="Regenerate: everything dirty",
    ),
    Command(
        "regenerate.retry_failed",
        "retry_failed",
        "Retry failed",
        "Regenerate every asset whose last job failed",
        key="R",
        palette="Regenerate: retry every failed asset",
        show=False,
    ),
    Command(
        "cancel.scene",
        "cancel_scene",
        "Cancel",
        "Cancel the selected scene's jobs",
        key="x",
        palette="Cancel: this scene's jobs",
    ),
    Command(
        "cancel.all",
        "cancel_all",
        "Cancel all",
        "Cancel every queued or running job",
        palette="Cancel: all jobs",
    ),
    Command(
        "view.dirty_only",
        "toggle_dirty_only",
        "Dirty only",
        "Show only scenes with a dirty or missing asset",
        key="d",
        palette="View: dirty only",
    ),
    Command(
        "view.filter",
        "filter",
        "Filter",
        "Filter scenes by text",
        key="slash",
        palette="View: filter scenes",
        priority=True,  # see TYPED_AHEAD
    ),
    Command(
        "view.clear_filter",
        "clear_filter",
        "Clear filter",
        "Show every scene again",
        palette="View: clear filter",
    ),
    Command(
        "play.clip",
        "play",
        "Play",
        "Play the selected scene's clip in the inspector (space pauses, esc stops)",
        key="p",
        palette="Play: this scene's clip",
    ),
    Command(
        "play.storyboard",
        "play_all",
        "Play all",
        "Play the storyboard from the selected scene on, clip after clip",
        key="P",
        palette="Play: the storyboard from here",
        show=False,
    ),
    Command(
        "play.pause",
        "pause",
        "Pause",
        "Pause or resume playback",
        key="space",
        show=False,
    ),
    Command(
        "export.film",
        "export",
        "Export",
        "Export the rough cut: every scene in order with its narration, on the runner",
        key="e",
        palette="Export: the rough cut",
        show=False,
    ),
    Command(
        "export.force",
        "export(True)",
        "Export again",
        "Export the rough cut even though it is up to date",
        palette="Export: remake the rough cut even if up to date",
    ),
    Command(
        "export.cancel",
        "cancel_export",
        "Cancel export",
        "Stop the export under way (the old film stays as it was)",
        palette="Export: cancel",
    ),
    Command(
        "edit.inspector",
        "edit",
        "Edit",
        "Edit the selected scene in the inspector",
        key="enter",
        palette="Edit: this scene",
        priority=True,  # see TYPED_AHEAD
    ),
    Command("edit.back", "back", "Back", "Back to the scene list", key="escape"),
    Command(
        "runner.stop",
        "stop_runner",
        "Stop runner",
        "Cancel every queued and running job and stop the project's runner",
        palette="Runner: stop",
    ),
    Command(
        "help.show",
        "help",
        "Help",
        "Show every key",
        key="question_mark",
        palette="Help: keys",
    ),
)

LIST_COMMANDS = (
    Command("list.up", "cursor_up", "Up", "Previous scene", key="up,k", show=False),
    Command("list.down", "cursor_down", "Down", "Next scene", key="down,j", show=False),
    Command("list.page_up", "page_up", "Page up", "A screen up", key="pageup", show=False),
    Command(
        "list.page_down", "page_down", "Page down", "A screen down", key="pagedown", show=False
    ),
    Command("list.first", "first", "First", "First scene", key="home,g", show=False),
    Command("list.last", "last", "Last", "Last scene", key="end,G", show=False),
)

ALL_COMMANDS = (*LIST_COMMANDS, *SCREEN_COMMANDS, *APP_COMMANDS)
SECTIONS = {
    "list": "Scene list",
    "edit": "Edit",
    "regenerate": "Regenerate",
    "cancel": "Regenerate",
    "view": "View",
    "runner": "App",
    "play": "Play and export",
    "export": "Play and export",
    "help": "App",
    "app": "App",
}
TYPED_AHEAD = frozenset({"filter", "edit"})
"""Actions that open a text field, so the keys after them are text.

Their bindings have priority: they run as the app takes the key from the
terminal, before it hands on the next one, and move focus there and then. A
plain binding runs only once the key has come back up from the list, by which
time a burst over SSH (`/boat`, or enter and a prompt's first words) has been
handed to the list too, and `b` and `a` would regenerate instead of typing. The
screen's `check_action` keeps them what they are in a field: `/` is text in a text
field, and enter opens the editor only from the list.
"""
RUNNER_GROUPS = ("regenerate", "cancel", "export", "runner")
"""Command groups that queue, cancel or stop jobs."""
RUNNER_ACTIONS = frozenset(
    command.action.partition("(")[0]
    for command in SCREEN_COMMANDS
    if command.id.partition(".")[0] in RUNNER_GROUPS
)
"""Their actions: shown dimmed until the window follows the project's jobs."""
SECTION_ORDER = ("Scene list", "Edit", "Regenerate", "Play and export", "View", "App")
EXTRA_HELP = (("Edit", "←/→  -/+", "Step motion strength by 0.05"),)
"""Keys of a single widget, not bindings of their own."""


def bindings(commands: Iterable[Command]) -> list[BindingType]:
    return [command.binding() for command in commands if command.key is not None]


def keys_of(app: App[object], keymap: Mapping[str, str], command: Command) -> list[str]:
    """The keys a command has after the user's keymap, as the terminal shows them."""
    keys = keymap.get(command.id, command.key or "")
    shown = []
    for key in (part.strip() for part in keys.split(",")):
        if key:
            shown.append(app.get_key_display(Binding(key, command.action, command.description)))
    return shown


def palette_commands(app: App[object], keymap: Mapping[str, str]) -> list[PaletteCommand]:
    result = []
    for command in SCREEN_COMMANDS:
        if command.palette is None:
            continue
        keys = keys_of(app, keymap, command)
        help_text = command.tooltip + (f" ({keys[0]})" if keys else "")
        result.append(PaletteCommand(command.palette, help_text, command.action))
    return result


def help_rows(app: App[object], keymap: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """(section, keys, what they do), sections in order; palette-only commands left out."""
    rows = [
        (SECTIONS.get(command.id.split(".")[0], "App"), ", ".join(keys), command.tooltip)
        for command in ALL_COMMANDS
        if (keys := keys_of(app, keymap, command))
    ]
    rows.extend(EXTRA_HELP)
    return sorted(rows, key=lambda row: SECTION_ORDER.index(row[0]))
