"""Views and settings: dirty only, the text filter, help, the keymap, themes, narrow screens,
and user text that looks like markup."""

from __future__ import annotations

import gc
import io
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console
from textual import events
from textual.widgets import Button

from tests.conftest import storyboard_json
from tests.instant_backend import InstantBackend
from tests.ui.helpers import (
    Toasts,
    build_project,
    make_app,
    quiet_settings,
    ready,
    screen_text,
    type_text,
    wait_for,
)
from tui.ui.app import run_app
from tui.ui.screens.help import HelpScreen
from tui.ui.themes import BUNDLED_THEMES_DIR, ThemeFile, load_theme_file

SIZE = (120, 36)
NASTY = "a [bold]storm[/] at [link=x]sea \x1b[31mred\x1b[0m [/link]"


async def test_view_keys_dirty_only_filter_help_and_palette(
    project: Callable[[str], Path],
) -> None:
    """`d` dirty only, `/` filter, `?` help and the palette's "view: dirty only", in one session."""
    root = project("dirty")
    app = make_app(root)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        scene_list = screen.scene_list
        assert screen.board is not None
        # d: the scenes with a dirty or missing asset, then all again.
        assert scene_list.shown_count == 5
        await pilot.press("d")
        assert "dirty only · 3/5" in screen_text(app)
        assert [screen.board.scenes[i].position for i in scene_list.shown_ids] == [2, 3, 4]
        await wait_for(pilot, lambda: "Scene 2 of 5" in screen_text(app), what="the inspector")
        await pilot.press("d")
        assert scene_list.shown_count == 5
        # /: narration or prompt text; enter keeps the filter, escape clears it.
        await pilot.press("slash")
        await type_text(pilot, "lightn")  # only scene 2's image prompt says it
        assert scene_list.shown_count == 1
        await pilot.press("enter")
        assert screen.focused is scene_list
        await pilot.press("slash", "escape")
        assert scene_list.shown_count == 5
        assert screen.focused is scene_list
        # ?: the key table, closed with escape.
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app)
        assert "Regenerate the selected scene's image" in text
        assert "Step motion strength by 0.05" in text
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        # ctrl+p: namespaced commands.
        titles = [command.title for command in screen.palette_commands()]
        assert "Regenerate: all dirty images" in titles
        assert "Regenerate: new take of this image" in titles
        await pilot.press("ctrl+p")
        await type_text(pilot, "dirty on")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert scene_list.dirty_only


async def test_letters_do_not_fire_while_typing(project: Callable[[str], Path]) -> None:
    """Typing "dvix" in a prompt inserts text; it toggles nothing and queues nothing."""
    root = project("dirty")
    app = make_app(root)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await pilot.press("down", "enter", "end")
        await type_text(pilot, "dvixI/")
        assert screen.scene_list.dirty_only is False
        assert not screen.jobs.active
        assert not screen.filter_input.has_class("-shown")
        shown = screen.session.scene(screen.scene_list.highlighted or 0)
        assert shown is not None and shown.image_prompt.endswith("dvixI/")


async def test_hiding_the_scene_under_the_cursor_moves_it_to_the_next_shown(
    tmp_path: Path,
) -> None:
    """A filter or dirty only that hides the scene under the cursor moves it on to the next
    scene shown in the story (or back to the last one), not to whatever scene now sits at
    the same line."""
    edits = {position: {"image_prompt": "changed"} for position in (2, 9, 11)}
    root = await build_project(tmp_path / "p", 12, edits=edits)
    app = make_app(root)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        board, scene_list = screen.board, screen.scene_list
        assert board is not None

        def position() -> int:
            assert board is not None and scene_list.highlighted is not None
            return board.scenes[scene_list.highlighted].position

        await pilot.press("home", *["down"] * 4, "d")  # from scene 5, not to the 3rd line
        await wait_for(pilot, lambda: scene_list.dirty_only and position() == 9, what="9")
        await pilot.press("d", "end", "d")  # nothing dirty after 12: the last dirty one
        assert position() == 11
        await pilot.press("d", "home", *["down"] * 4)
        await type_text(pilot, "/1")  # 1, 10, 11, 12 match: on from 5 to 10, not to 12
        assert position() == 10


async def test_keys_typed_ahead_of_a_focus_change_go_to_the_field(
    project: Callable[[str], Path],
) -> None:
    """Over a slow SSH link keys arrive in bursts: `/boat` or `enter` and a prompt's words
    reach the app together, before the list has handed focus on. The letters belong to the
    field that opens, never to the list's keys (`b` regenerates, `a` starts a batch)."""
    root = project("dirty")
    app = make_app(root)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await type_text(pilot, "/boat")
        await wait_for(pilot, lambda: screen.filter_input.value == "boat", what="the filter")
        assert not screen.jobs.active and screen.scene_list.dirty_only is False
        await pilot.press("escape")
        assert screen.focused is screen.scene_list
        before = screen.session.scene(screen.scene_list.highlighted or 0)
        assert before is not None
        app.post_message(events.Key("enter", None))
        await type_text(pilot, "adv")  # in the same burst: no pause before it
        await wait_for(
            pilot,
            lambda: (
                (shown := screen.session.scene(before.id)) is not None
                and shown.image_prompt == "adv" + before.image_prompt
            ),
            what="the letters in the prompt",
        )
        assert not screen.jobs.active and screen.scene_list.dirty_only is False


async def test_slash_opens_the_filter_from_anywhere_but_a_text_field(
    project: Callable[[str], Path],
) -> None:
    """`/` is a priority binding (see the test above): from a batch-bar button it still
    opens the filter; in a prompt it is a character."""
    app = make_app(project("dirty"))
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await pilot.press("shift+tab")
        assert isinstance(screen.focused, Button)
        await pilot.press("slash")
        assert screen.focused is screen.filter_input
        await pilot.press("escape", "enter", "end", "slash")
        assert not screen.filter_input.has_class("-shown")
        shown = screen.session.scene(screen.scene_list.highlighted or 0)
        assert shown is not None and shown.image_prompt.endswith("/")


async def test_closing_the_window_lets_the_collector_have_its_scenes_again(
    project: Callable[[str], Path],
) -> None:
    """The window freezes the project's scenes out of the garbage collector while it is
    open (no full collection walks 10,000 of them mid-keystroke); closing it unfreezes
    them, or every window a process opened would stay in memory (a test run grew from
    150 to 308 MB)."""
    app = make_app(project("clean"))
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await wait_for(
            pilot,
            lambda: (
                screen.board is not None and screen.board.is_complete and gc.get_freeze_count() > 0
            ),
            what="the scenes frozen",
        )
    assert gc.get_freeze_count() == 0


async def test_keymap_remaps_a_binding(project: Callable[[str], Path]) -> None:
    """`regenerate.image = "r"` in the keymap makes `r` regenerate and `i` do nothing."""
    root = project("dirty")
    backend = InstantBackend(hold=True)
    app = make_app(root, backend=backend, settings=quiet_settings(keymap={"regenerate.image": "r"}))
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await pilot.press("down", "i")
        await pilot.pause()
        assert not screen.jobs.active
        await pilot.press("r")
        await wait_for(pilot, lambda: screen.jobs.active, what="the remapped key")
        assert "r Image" in screen_text(app)
        await pilot.press("question_mark")
        assert "r" in [
            keys
            for _section, keys, text in app.screen.rows
            if "scene's image" in text  # type: ignore[attr-defined]
        ]


async def test_every_binding_has_an_id_and_a_tooltip(project: Callable[[str], Path]) -> None:
    """Every key of the app can be remapped and explained."""
    from textual.binding import Binding

    from tui.ui.app import StoryboardApp
    from tui.ui.screens.main import MainScreen
    from tui.ui.widgets.motion import MotionControl
    from tui.ui.widgets.scene_list import SceneList

    for owner in (StoryboardApp, MainScreen, SceneList, MotionControl, HelpScreen):
        for binding in owner.BINDINGS:
            assert isinstance(binding, Binding)
            assert binding.id, f"{owner.__name__}: {binding.key} has no id"
            if owner is not SceneList:
                assert binding.tooltip, f"{owner.__name__}: {binding.id} has no tooltip"


async def test_narrow_terminal_swaps_list_and_inspector(project: Callable[[str], Path]) -> None:
    """At 80 columns the inspector replaces the list while editing; escape brings it back."""
    root = project("dirty")
    app = make_app(root)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await ready(pilot)
        assert screen.scene_list.display and not screen.inspector.region.width
        await pilot.press("down", "enter")
        await pilot.pause()
        assert screen.inspector.region.width == 80
        assert "image prompt changed" in screen_text(app)
        await pilot.press("escape")
        await pilot.pause()
        assert screen.scene_list.region.width > 0 and not screen.inspector.region.width


async def test_user_text_is_never_markup(tmp_path: Path) -> None:
    """Brackets and escape codes in narration and prompts show literally everywhere."""
    data = storyboard_json(2)
    data["scenes"][0]["narration"] = NASTY
    data["scenes"][0]["image_prompt"] = NASTY
    data["scenes"][0]["video_prompt"] = "[/]"
    root = await build_project(tmp_path / "nasty", data=data, assets=False)
    backend = InstantBackend()
    backend.fail_with = "bad node [red]x[/] \x1b[2J"
    toasts = Toasts()
    app = make_app(root, backend=backend)
    async with app.run_test(size=SIZE, message_hook=toasts.hook, notifications=True) as pilot:
        screen = await ready(pilot)
        await wait_for(pilot, lambda: screen.inspector.scene is not None)
        text = screen_text(app)
        literal = "a [bold]storm[/] at [link=x]sea ␛[31mred␛[0m [/link]"
        assert literal[:40] in text.split("\n")[3]  # the list's first row
        narration = app.query_one("#narration")
        assert narration.text == literal  # type: ignore[attr-defined]
        prompt = app.query_one("#image-prompt")
        assert prompt.text == literal  # type: ignore[attr-defined]
        assert "\x1b" not in text
        await pilot.press("i")
        await wait_for(pilot, lambda: bool(toasts.messages("error")))
        assert toasts.messages("error") == ["Image failed: bad node [red]x[/] ␛[2J"]
        await pilot.pause()
        assert "bad node [red]x[/] ␛[2J" in screen_text(app)


async def test_a_broken_theme_file_gives_one_warning(
    project: Callable[[str], Path], tmp_path: Path
) -> None:
    """Two broken files, one good one: one warning toast, the good theme usable, no crash."""
    themes = tmp_path / "themes"
    themes.mkdir()
    (themes / "broken.toml").write_text('name = "broken"\nprimary = [1, 2\n', encoding="utf-8")
    (themes / "badcolour.toml").write_text(
        'name = "badcolour"\nprimary = "not a colour"\n', encoding="utf-8"
    )
    (themes / "mine.toml").write_text(
        'name = "mine"\nprimary = "#336699"\n[variables]\nimage-dirty = "#00ff00"\n',
        encoding="utf-8",
    )
    root = project("dirty")
    toasts = Toasts()
    app = make_app(root, theme_dirs=[BUNDLED_THEMES_DIR, themes], theme="mine")
    async with app.run_test(size=SIZE, message_hook=toasts.hook) as pilot:
        await ready(pilot)
        warnings = toasts.messages("warning")
        assert len(warnings) == 1
        assert "broken theme file" in warnings[0] and "(and 1 more)" in warnings[0]
        assert app.theme == "mine"
        assert app.theme_variables["image-dirty"] == "#00ff00"


def test_unknown_theme_falls_back(project: Callable[[str], Path]) -> None:
    """An unknown `--theme` falls back to storyboard-dark with a warning (no app run needed)."""
    app = make_app(project("clean"), theme="no-such-theme")
    assert app.theme == "storyboard-dark"
    assert any("Unknown theme 'no-such-theme'" in line for line in app.warnings)


@pytest.mark.parametrize("name", ["storyboard-dark", "storyboard-light"])
def test_bundled_themes_validate(name: str) -> None:
    theme = load_theme_file(BUNDLED_THEMES_DIR / f"{name}.toml")
    assert theme.name == name
    assert set(theme.variables) >= {"image-dirty", "video-dirty", "asset-missing"}
    assert ThemeFile.model_validate({"name": "x", "primary": "#123456"}).dark


def test_user_themes_are_read_from_the_config_folder(isolated_home: Path) -> None:
    """Without `theme_dirs`, the app reads `user_config_dir()/themes` (here, the fake home)."""
    from tui.ui.themes import user_themes_dir

    assert user_themes_dir().is_relative_to(isolated_home)


def test_run_app_refuses_a_folder_that_is_not_a_project(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_app(tmp_path / "nowhere") == 2
    assert "no such project" in capsys.readouterr().err


def test_settings_file_is_not_read_in_tests(isolated_home: Path) -> None:
    """A config file in the fake home would be read by the app, and never the real one."""
    from tui.config import user_config_path

    assert user_config_path().is_relative_to(isolated_home)


async def test_dragging_over_the_list_then_ctrl_c_copies_the_lines(
    project: Callable[[str], Path],
) -> None:
    """Issue 11: a mouse drag over the scene list and ctrl+c copy what is shown; no crash.

    It used to exit with `TypeError: SceneList._render() missing 5 required
    positional arguments`: the list's own `_render` shadowed Textual's.
    """
    root = project("dirty")
    app = make_app(root)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await ready(pilot)
        await pilot.mouse_down(screen.scene_list, offset=(2, 1))
        await pilot.hover(screen.scene_list, offset=(30, 3))
        await pilot.mouse_up(screen.scene_list, offset=(30, 3))
        await pilot.press("ctrl+c")
        await pilot.pause()
        assert app.is_running
        copied = app.clipboard
        assert "Sentence number 2 of the story." in copied
        assert "Sentence number 3" in copied and "Sentence number 5" not in copied


@pytest.mark.parametrize("theme", ["storyboard-dark", "storyboard-light"])
async def test_the_themes_keep_their_look_in_a_256_colour_terminal(
    project: Callable[[str], Path], theme: str
) -> None:
    """Issue 12 item 13: tmux's default `screen-256color` turned the dark greys into navy.

    Every colour on screen is mapped the way Rich maps it for a 256-colour
    terminal: none may move far, and no dark neutral may turn into a colour.
    """
    import colorsys
    import math

    from rich.color import ColorSystem

    app = make_app(project("fresh"), settings=quiet_settings(theme=theme))
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(pilot)
        await pilot.press("down", "enter")  # a focused field and the cursor's row too
        await pilot.pause(0.2)
        painted = set()
        update = app.screen._compositor.render_update(full=True)
        console = Console(width=120, height=36, file=io.StringIO(), color_system="truecolor")
        for segment in console.render(update):
            if segment.style is not None:
                painted |= {c for c in (segment.style.color, segment.style.bgcolor) if c}
    checked = 0
    for color in painted:
        if color.triplet is None:
            continue
        near = color.downgrade(ColorSystem.EIGHT_BIT).get_truecolor()
        assert math.dist(color.triplet, near) < 55, (theme, color.triplet.hex, near.hex)
        _h, lightness, saturation = colorsys.rgb_to_hls(*color.triplet.normalized)
        if lightness < 0.35 and saturation < 0.25:
            _h, _l, after = colorsys.rgb_to_hls(*near.normalized)
            assert after < 0.15, f"{theme}: dark grey {color.triplet.hex} becomes {near.hex}"
        checked += 1
    assert checked > 10
