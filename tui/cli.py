"""The `storyboard` command: open the TUI, or work headless on the same engine.

Every refusal is one line on stderr with exit status 2, and leaves the project
exactly as it was.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from tui.cli_runner import runner_line, runner_summary
from tui.config import ConfigError, ProjectConfig, UserSettings
from tui.domain.edits import EditError, parse_assignment
from tui.domain.models import AssetKind, AssetState
from tui.engine.export import CutView, cut_view
from tui.engine.project import BACKEND_NAMES, AudioCheck, BackendChoice, Project
from tui.engine.report import SceneReport, Tally, report
from tui.errors import StoreError
from tui.folder import ProjectFolder
from tui.textsafe import json_text, one_line, visible

if TYPE_CHECKING:
    from collections.abc import Iterator

    from rich.console import Console

AUDIO_FILE = "audio_file"
"""Set with `set`, but not an edit like the others: the file is copied in and measured."""
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

STATE_CODES: dict[AssetState, str] = {
    AssetState.CLEAN: "32",
    AssetState.DIRTY: "1;33",
    AssetState.MISSING: "2",
    AssetState.NONE: "2",
}
VIDEO_DIRTY_CODE = "1;38;5;208"


class UsageError(Exception):
    """Bad input from the command line: exit status 2, one line, nothing changed."""


class _Parser(argparse.ArgumentParser):
    """argparse, but its complaints fit on one line like ours do."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {one_line(message)} (see --help)\n")


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="storyboard",
        usage="storyboard DIR [--theme NAME] [--backend {draft,comfyui}] [--comfyui URL]\n"
        "       storyboard COMMAND ...",
        description="Prompt-edit regeneration for narrated AI video. "
        "`storyboard DIR` opens the project in DIR in the terminal editor; "
        "the commands below work on a project without it.",
        epilog="`storyboard COMMAND --help` says more about each command.",
    )
    parser.add_argument("--version", action="version", version=f"storyboard {_version()}")
    commands = parser.add_subparsers(
        dest="command", metavar="COMMAND", parser_class=_Parser, prog="storyboard"
    )

    new = commands.add_parser("new", help="create a project from a sample folder or JSON file")
    new.add_argument("dir", type=Path, help="the project folder to create")
    new.add_argument("--from", dest="source", type=Path, required=True, metavar="SOURCE")

    status = commands.add_parser("status", help="show each scene's image and video state")
    status.add_argument("dir", type=Path, help="the project folder")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.add_argument("--backend", choices=BACKEND_NAMES, help="judge against this backend")

    edit = commands.add_parser("set", help="edit fields of one scene")
    edit.add_argument("dir", type=Path, help="the project folder")
    edit.add_argument("scene", type=int, help="1-based scene position")
    edit.add_argument("assignments", nargs="+", metavar="FIELD=VALUE")

    regen = commands.add_parser("regen", help="regenerate dirty images and videos, headless")
    regen.add_argument("dir", type=Path, help="the project folder")
    regen.add_argument("--images", action="store_true", help="images only (default: both)")
    regen.add_argument("--videos", action="store_true", help="videos only (default: both)")
    regen.add_argument(
        "--scene", type=int, action="append", default=[], metavar="N", help="only scene N"
    )
    regen.add_argument(
        "--include-missing", action="store_true", help="also make assets that do not exist yet"
    )
    regen.add_argument("--force", action="store_true", help="make a new take even if clean")
    regen.add_argument("--dry-run", action="store_true", help="list what would run, and why")
    regen.add_argument("--backend", choices=BACKEND_NAMES, help="renderer to use")
    regen.add_argument(
        "--comfyui",
        action="append",
        default=[],
        metavar="URL",
        help="a ComfyUI server to render with (repeat for several); implies --backend comfyui",
    )
    regen.add_argument(
        "--no-wait",
        dest="wait",
        action="store_false",
        help="queue the work for the project's runner and exit at once (for cron)",
    )
    regen.add_argument("--dirty", action="store_true", help=argparse.SUPPRESS)

    export = commands.add_parser(
        "export", help="assemble the rough cut (one MP4) in the project's runner"
    )
    export.add_argument("dir", type=Path, help="the project folder")
    export.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="FILE",
        help="where the film goes (an .mp4; default: exports/<project name>.mp4)",
    )
    export.add_argument(
        "--subtitles", action="store_true", help="also write an .srt beside the film"
    )
    export.add_argument(
        "--force", action="store_true", help="make it again even if nothing changed"
    )
    export.add_argument(
        "--no-wait",
        dest="wait",
        action="store_false",
        help="queue the export for the project's runner and exit at once",
    )

    runner = commands.add_parser(
        "runner", help="the project's job runner: status, stop, or its log"
    )
    runner.add_argument("dir", type=Path, help="the project folder")
    runner.add_argument(
        "action",
        nargs="?",
        default="status",
        choices=["status", "stop", "log", "serve"],
        help="status (default): pid, state, jobs and last errors; stop: cancel its jobs "
        "and stop it; log: the last lines of its log",
    )
    runner.add_argument("-n", "--lines", type=int, default=40, help="log lines to show")
    runner.add_argument("--backend", choices=BACKEND_NAMES, help=argparse.SUPPRESS)
    runner.add_argument("--comfyui", action="append", default=[], help=argparse.SUPPRESS)
    runner.add_argument("--foreground", action="store_true", help=argparse.SUPPRESS)

    doctor = commands.add_parser("doctor", help="check ComfyUI servers, workflows and bindings")
    doctor.add_argument("dir", type=Path, nargs="?", help="a project (its storyboard.toml)")
    doctor.add_argument(
        "--comfyui",
        action="append",
        default=[],
        metavar="URL",
        help="a server to check (repeat for several; default: the project's or your config's)",
    )
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("storyboard-tui")
    except PackageNotFoundError:
        return "unknown (not installed)"


def _open_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="storyboard", description="Open a project in the TUI.")
    parser.add_argument("dir", type=Path, help="the project folder")
    parser.add_argument("--theme", help="theme name")
    parser.add_argument("--backend", choices=BACKEND_NAMES, help="renderer to use")
    parser.add_argument("--comfyui", action="append", metavar="URL", help="ComfyUI server URL")
    return parser


SUBCOMMANDS = frozenset({"new", "status", "set", "regen", "export", "doctor", "runner"})


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        if args_list and args_list[0] not in SUBCOMMANDS and not args_list[0].startswith("-"):
            return _open(_open_parser().parse_args(args_list))
        args = _build_parser().parse_args(args_list)
        if args.command is None:
            _build_parser().print_help()
            return EXIT_USAGE
        if args.command == "runner" and args.action == "serve":
            return _serve_runner(args)
        handler = _HANDLERS[args.command]
        status = asyncio.run(handler(args))
        sys.stdout.flush()  # a closed pipe shows up here, inside the try, not at exit
        return status
    except (UsageError, StoreError, EditError) as error:
        print(f"storyboard: error: {one_line(str(error))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`storyboard status | head -1`): stop quietly, like cat.
        _silence_stdout()
        return EXIT_FAILED


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _open(args: argparse.Namespace) -> int:
    from tui.ui.app import run_app  # Textual loads only when the TUI is wanted

    return run_app(args.dir, theme=args.theme, backend=args.backend, comfyui=args.comfyui)


async def _new(args: argparse.Namespace) -> int:
    notes: list[str] = []
    folder = await Project.create(args.dir, args.source, notes)
    for note in notes:
        print(one_line(note))
    async with await Project.open(folder.root) as project:
        count = await project.store.scene_count()
        name, where = one_line(project.name), visible(str(folder.root))
        print(f"Created '{name}' with {count} scenes in {where}")
    return EXIT_OK


def scene_json(item: SceneReport) -> dict[str, Any]:
    scene = item.scene
    return {
        "position": scene.position,
        "id": scene.id,
        "narration": scene.narration,
        "image": item.status.image.value,
        "video": item.status.video.value,
        "image_file": item.image_file,
        "video_file": item.video_file,
        "why": {"image": item.why[AssetKind.IMAGE], "video": item.why[AssetKind.VIDEO]},
        "error": {"image": item.errors[AssetKind.IMAGE], "video": item.errors[AssetKind.VIDEO]},
    }


def _dumps(value: Any) -> str:
    """One JSON value on one line (the C encoder: an indented dump is ten times slower)."""
    text = json.dumps(value, ensure_ascii=False)
    if text.isascii() and "\x7f" not in text:
        return text  # JSON already escaped every control character below 0x20
    return json_text(text)


class _Styles:
    """ANSI styles for the status table, on a terminal that wants colour."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def state(self, state: AssetState, kind: AssetKind, width: int) -> str:
        text = state.value.ljust(width)
        if not self.enabled:
            return text
        code = STATE_CODES[state]
        if state is AssetState.DIRTY and kind is AssetKind.VIDEO:
            code = VIDEO_DIRTY_CODE
        return f"\x1b[{code}m{text}\x1b[0m"

    def failed(self, text: str) -> str:
        return f"\x1b[31m{text}\x1b[0m" if self.enabled and text else text

    def dim(self, text: str) -> str:
        return f"\x1b[2m{text}\x1b[0m" if self.enabled and text else text

    def bold(self, text: str) -> str:
        return f"\x1b[1m{text}\x1b[0m" if self.enabled else text


def _line(text: str) -> str:
    """`one_line`, with a shortcut for the common case of plain printable ASCII."""
    if text.isascii() and text.isprintable() and "  " not in text and text.strip(" ") == text:
        return text
    return one_line(text)


def _fit(text: str, width: int) -> str:
    """`text` cut to `width` terminal cells (an ellipsis marks the cut) and padded to it."""
    from rich.cells import cell_len, set_cell_size

    if text.isascii():
        if len(text) > width:
            return text[: width - 1] + "…"
        return text.ljust(width)
    if cell_len(text) > width:
        return set_cell_size(text, width - 1) + "…"
    return set_cell_size(text, width)


NARRATION_WIDTH = 44
STATE_WIDTH = max(len(state.value) for state in AssetState)


def _cut(project: Project, tally: Tally) -> CutView:
    return cut_view(project.folder, tally.record, tally.film, project.settings)


def _table(out: TextIO, title: str, width: int, styles: _Styles, project: Project) -> Any:
    """A consumer for `report` that prints the status table as the rows stream by.

    A scene's reasons and last errors go on their own lines under it, so they
    read whole at 80 columns instead of wrapping in a narrow column.
    """

    def write(items: Iterator[SceneReport], tally: Tally) -> None:
        indent = " " * (width + 3)
        out.write(styles.bold(title) + "\n")
        header = (
            f"{'#'.rjust(width)} {_fit('narration', NARRATION_WIDTH)} "
            f"{'image'.ljust(STATE_WIDTH)} video"
        )
        out.write(styles.bold(header) + "\n")
        lines: list[str] = []
        for item in items:
            scene, status = item.scene, item.status
            lines.append(
                f"{str(scene.position).rjust(width)} "
                f"{_fit(_line(scene.narration), NARRATION_WIDTH)} "
                f"{styles.state(status.image, AssetKind.IMAGE, STATE_WIDTH)} "
                f"{styles.state(status.video, AssetKind.VIDEO, 0)}".rstrip()
                + "\n"
            )
            for kind in AssetKind:
                for reason in item.why[kind]:
                    lines.append(f"{indent}{styles.dim(_line(f'{kind.value}: {reason}'))}\n")
                error = item.errors[kind]
                if error:
                    lines.append(
                        f"{indent}{styles.failed(_line(f'{kind.value} failed: {error}'))}\n"
                    )
            if len(lines) >= 1000:
                out.write("".join(lines))
                lines.clear()
        out.write("".join(lines))
        out.write(tally.line() + "\n")
        out.write(_line(_cut(project, tally).line) + "\n")

    return write


def _json(out: TextIO, head: dict[str, Any], project: Project) -> Any:
    """A consumer for `report` that writes `status --json`, a scene per line."""

    def write(items: Iterator[SceneReport], tally: Tally) -> None:
        out.write("{\n")
        for key, value in head.items():
            out.write(f"  {json.dumps(key)}: {_dumps(value)},\n")
        out.write('  "scenes": [')
        separator = "\n    "
        chunk: list[str] = []
        for item in items:
            chunk.append(separator + _dumps(scene_json(item)))
            separator = ",\n    "
            if len(chunk) >= 1000:
                out.write("".join(chunk))
                chunk.clear()
        out.write("".join(chunk))
        out.write(f'\n  ],\n  "cut": {_dumps(_cut(project, tally).json())}\n}}\n')

    return write


async def _status(args: argparse.Namespace) -> int:
    async with await Project.open(args.dir, backend=args.backend) as project:
        runner = await runner_summary(project)
        audio = await _check_audio(project, write=False)  # status never writes
        out = sys.stdout
        if args.json:
            head = {
                "project": {"name": project.name, "path": str(project.folder.root)},
                "runner": runner,
            }
            consume = _json(out, head, project)
            await report(project.store, project.settings, consume, audio.durations)
            return EXIT_OK
        last = await project.store.last_position()
        styles = _Styles(out.isatty() and not os.environ.get("NO_COLOR"))
        title = f"{one_line(project.name)} · {project.backend_name}"
        consume = _table(out, title, max(1, len(str(last))), styles, project)
        await report(project.store, project.settings, consume, audio.durations)
        out.write(runner_line(runner) + "\n")
    return EXIT_OK


def _console(stream: Any = None) -> Console:
    from rich.console import Console

    return Console(file=stream or sys.stdout, highlight=False, soft_wrap=False)


async def _set(args: argparse.Namespace) -> int:
    changes: dict[str, Any] = {}
    audio_file: str | None = None
    for text in args.assignments:
        field, sep, raw = text.partition("=")
        if sep and field.strip() == AUDIO_FILE:
            audio_file = raw.strip()
            continue
        field, value = parse_assignment(text)
        changes[field] = value
    if audio_file is not None and "audio_duration" in changes:
        raise UsageError(
            "audio_file sets audio_duration from the file's length; give one or the other"
        )
    async with await Project.open(args.dir) as project:
        scene = await project.store.scene_at(args.scene)
        await _check_audio(project, write=True)
        scene = await project.store.scene(scene.id)
        updated = await project.edit(scene.id, changes) if changes else scene
        if audio_file is not None:
            updated = await project.attach_audio(updated, audio_file)
        status = project.status(updated)
        verb = "saved" if updated.rev != scene.rev else "unchanged"
        print(f"scene {updated.position} {verb}: image {status.image}, video {status.video}")
        for kind, lines in project.why(updated).items():
            for line in lines:
                print(f"  {kind.value}: {one_line(line)}")
        if audio_file is not None and updated.audio_file:
            print(f"  audio: {visible(updated.audio_file)}, {updated.audio_duration:.2f} s")
    return EXIT_OK


async def _check_audio(project: Project, *, write: bool) -> AudioCheck:
    """Measure narration files that changed on disk; each one that cannot be decoded is
    a warning line (its scene keeps its length)."""
    check = await project.check_audio(write=write)
    for line in check.problems:
        print(f"storyboard: warning: {one_line(line)}", file=sys.stderr)
    return check


async def _regen(args: argparse.Namespace) -> int:
    from tui.headless import RegenRequest, regen

    kinds = [
        kind
        for kind, wanted in ((AssetKind.IMAGE, args.images), (AssetKind.VIDEO, args.videos))
        if wanted or not (args.images or args.videos)
    ]
    request = RegenRequest(
        kinds=kinds,
        positions=args.scene,
        include_missing=args.include_missing,
        force=args.force,
        dry_run=args.dry_run,
        wait=args.wait,
    )
    ask = _ask if sys.stdin.isatty() and sys.stdout.isatty() else None
    async with await Project.open(args.dir, choice=_choice(args)) as project:
        await _check_audio(project, write=not args.dry_run)  # a dry run writes nothing
        return await regen(project, request, ask=ask)


async def _export(args: argparse.Namespace) -> int:
    from tui.headless import ExportOptions, export

    ask = _ask if sys.stdin.isatty() and sys.stdout.isatty() else None
    options = ExportOptions(args.output, args.subtitles, args.force, args.wait)
    async with await Project.open(args.dir) as project:
        await _check_audio(project, write=True)
        return await export(project, options, ask=ask)


def _ask(question: str) -> str:
    return input(question)


def _choice(args: argparse.Namespace) -> BackendChoice:
    """The renderer the user asked for, with their default servers: the one rule for all."""
    try:
        defaults = tuple(UserSettings.load().comfyui_servers)
    except ConfigError:
        defaults = ()
    return BackendChoice(args.backend, tuple(args.comfyui or ()), defaults)


def _serve_runner(args: argparse.Namespace) -> int:
    """The detached runner process a client starts (`runner DIR serve`, not for people)."""
    from tui.engine.runner import run_detached

    try:
        idle_exit = UserSettings.load().runner_idle_exit
    except ConfigError:
        idle_exit = UserSettings.model_construct().runner_idle_exit
    if not args.foreground and os.fork() > 0:
        # The client waits for this process; the runner itself lives on in the
        # child, which init adopts, so no client ever holds a zombie.
        os._exit(0)
    root = Path(args.dir).expanduser().absolute()
    return asyncio.run(run_detached(root, _choice(args), idle_exit=idle_exit))


async def _runner(args: argparse.Namespace) -> int:
    from tui.cli_runner import runner_command

    return await runner_command(args.dir, args.action, lines=args.lines, out=_console())


async def _doctor(args: argparse.Namespace) -> int:
    from tui.backends.comfyui.doctor import (
        load_workflows,
        print_report,
        resolve_servers,
        run_doctor,
    )

    try:
        if args.dir is not None:
            folder = ProjectFolder.require(args.dir)
            config = ProjectConfig.load(folder.config_path)
        else:
            folder, config = ProjectFolder(Path.cwd()), ProjectConfig()
        servers = resolve_servers(
            args.comfyui,
            config if args.dir is not None else None,
            lambda: UserSettings.load().comfyui_servers,
        )
    except ConfigError as error:
        raise UsageError(str(error)) from None
    report = await run_doctor(
        servers, load_workflows(folder, config), timeout=config.comfyui.timeout
    )
    return print_report(report, _console())


_HANDLERS = {
    "new": _new,
    "status": _status,
    "set": _set,
    "regen": _regen,
    "export": _export,
    "doctor": _doctor,
    "runner": _runner,
}
