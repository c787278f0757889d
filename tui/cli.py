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
from typing import Any, NoReturn

from rich.console import Console
from rich.table import Table
from rich.text import Text

from tui.backends.registry import BACKEND_NAMES
from tui.cli_runner import runner_line, runner_summary
from tui.config import ConfigError, ProjectConfig, UserSettings
from tui.domain.edits import EditError, parse_assignment
from tui.domain.models import AssetKind, AssetState, Scene
from tui.engine.project import BackendChoice, Project
from tui.headless import RegenRequest, regen
from tui.store.errors import StoreError
from tui.store.folder import ProjectFolder
from tui.store.importer import create_project
from tui.textsafe import json_text, one_line, visible

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

STATE_STYLES: dict[AssetState, str] = {
    AssetState.CLEAN: "green",
    AssetState.DIRTY: "bold yellow",
    AssetState.MISSING: "dim",
    AssetState.NONE: "dim",
}
VIDEO_DIRTY_STYLE = "bold dark_orange"


class UsageError(Exception):
    """Bad input from the command line: exit status 2, one line, nothing changed."""


class _Parser(argparse.ArgumentParser):
    """argparse, but its complaints fit on one line like ours do."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {one_line(message)} (see --help)\n")


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="storyboard",
        description="Prompt-edit regeneration for narrated AI video.",
    )
    parser.add_argument("--version", action="version", version=f"storyboard {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    new = commands.add_parser("new", help="create a project from a sample folder or JSON file")
    new.add_argument("dir", type=Path, help="the project folder to create")
    new.add_argument("--from", dest="source", type=Path, required=True, metavar="SOURCE")

    status = commands.add_parser("status", help="show each scene's image and video state")
    status.add_argument("dir", type=Path)
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.add_argument("--backend", choices=BACKEND_NAMES, help="judge against this backend")

    edit = commands.add_parser("set", help="edit fields of one scene")
    edit.add_argument("dir", type=Path)
    edit.add_argument("scene", type=int, help="1-based scene position")
    edit.add_argument("assignments", nargs="+", metavar="FIELD=VALUE")

    regen = commands.add_parser("regen", help="regenerate dirty images and videos, headless")
    regen.add_argument("dir", type=Path)
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

    runner = commands.add_parser(
        "runner", help="the project's job runner: status, stop, or its log"
    )
    runner.add_argument("dir", type=Path)
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
    doctor.add_argument("--comfyui", action="append", default=[], metavar="URL")
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


SUBCOMMANDS = frozenset({"new", "status", "set", "regen", "doctor", "runner"})


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
    folder = await create_project(args.dir, args.source)
    async with await Project.open(folder.root) as project:
        scenes = await project.scenes()
        name, where = one_line(project.name), visible(str(folder.root))
        print(f"Created '{name}' with {len(scenes)} scenes in {where}")
    return EXIT_OK


def scene_json(project: Project, scene: Scene) -> dict[str, Any]:
    status = project.status(scene)
    reasons = project.why(scene)
    return {
        "position": scene.position,
        "id": scene.id,
        "narration": scene.narration,
        "image": status.image.value,
        "video": status.video.value,
        "image_file": scene.image.file if scene.image else None,
        "video_file": scene.video.file if scene.video else None,
        "why": {"image": reasons[AssetKind.IMAGE], "video": reasons[AssetKind.VIDEO]},
    }


def _state_text(state: AssetState, kind: AssetKind) -> Text:
    style = STATE_STYLES[state]
    if state is AssetState.DIRTY and kind is AssetKind.VIDEO:
        style = VIDEO_DIRTY_STYLE
    return Text(state.value, style=style)


def _console(stream: Any = None) -> Console:
    return Console(file=stream or sys.stdout, highlight=False, soft_wrap=False)


async def _status(args: argparse.Namespace) -> int:
    async with await Project.open(args.dir, backend=args.backend) as project:
        scenes = await project.scenes()
        runner = await runner_summary(project)
        if args.json:
            payload = {
                "project": {"name": project.name, "path": str(project.folder.root)},
                "runner": runner,
                "scenes": [scene_json(project, scene) for scene in scenes],
            }
            print(json_text(json.dumps(payload, indent=2, ensure_ascii=False)))
            return EXIT_OK
        console = _console()
        title = Text(f"{one_line(project.name)} · {project.backend_name}")
        table = Table(title=title, expand=False)
        table.add_column("#", justify="right")
        table.add_column("narration", max_width=44, no_wrap=True, overflow="ellipsis")
        table.add_column("image")
        table.add_column("video")
        table.add_column("why", overflow="fold")
        counts = {kind: dict.fromkeys(AssetState, 0) for kind in AssetKind}
        for scene in scenes:
            status = project.status(scene)
            counts[AssetKind.IMAGE][status.image] += 1
            counts[AssetKind.VIDEO][status.video] += 1
            reasons = project.why(scene)
            lines = [f"image: {line}" for line in reasons[AssetKind.IMAGE]]
            lines += [f"video: {line}" for line in reasons[AssetKind.VIDEO]]
            table.add_row(
                str(scene.position),
                Text(one_line(scene.narration)),
                _state_text(status.image, AssetKind.IMAGE),
                _state_text(status.video, AssetKind.VIDEO),
                Text("\n".join(one_line(line) for line in lines), style="dim"),
            )
        console.print(table)
        console.print(Text(_summary(counts)))
        console.print(Text(runner_line(runner)))
    return EXIT_OK


def _summary(counts: dict[AssetKind, dict[AssetState, int]]) -> str:
    parts = []
    for kind in AssetKind:
        dirty = counts[kind][AssetState.DIRTY]
        missing = counts[kind][AssetState.MISSING]
        parts.append(f"{dirty} dirty {kind.value}s, {missing} missing")
    return " · ".join(parts)


async def _set(args: argparse.Namespace) -> int:
    changes: dict[str, Any] = {}
    for text in args.assignments:
        field, value = parse_assignment(text)
        changes[field] = value
    async with await Project.open(args.dir) as project:
        scene = await project.store.scene_at(args.scene)
        updated = await project.edit(scene.id, changes)
        status = project.status(updated)
        verb = "saved" if updated.rev != scene.rev else "unchanged"
        print(f"scene {updated.position} {verb}: image {status.image}, video {status.video}")
        for kind, lines in project.why(updated).items():
            for line in lines:
                print(f"  {kind.value}: {one_line(line)}")
    return EXIT_OK


async def _regen(args: argparse.Namespace) -> int:
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
        return await regen(project, request, ask=ask)


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
    "doctor": _doctor,
    "runner": _runner,
}
