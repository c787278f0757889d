"""Run the stand-in by hand: python -m tests.comfyui_server --port 8188 --root /tmp/comfy."""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
from pathlib import Path

from .server import ComfyTestServer


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.comfyui_server",
        description="A ComfyUI 0.3.64 stand-in on loopback, for trying the app by hand.",
    )
    parser.add_argument("--port", type=int, default=8188)
    parser.add_argument(
        "--root", type=Path, default=Path(tempfile.gettempdir()) / "comfy_test_root"
    )
    parser.add_argument("--step-delay", type=float, default=0.2, help="seconds per step")
    parser.add_argument("--steps", type=int, default=4, help="steps when not an input")
    parser.add_argument("--object-info", type=Path, default=None, help="object_info JSON")
    parser.add_argument("--fail-node-class", default=None, help="nodes of this class raise")
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="FOLDER/NAME",
        help="create models/FOLDER/NAME so loaders accept it, e.g. checkpoints/sd15.safetensors",
    )
    parser.add_argument(
        "--newer", action="store_true", help="speak like a newer release (0.38.x) than 0.3.64"
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    server = ComfyTestServer(
        args.root, step_delay=args.step_delay, object_info_path=args.object_info, newer=args.newer
    )
    server.steps = args.steps
    server.fail_node_class = args.fail_node_class
    for spec in args.model:
        folder, _, name = str(spec).partition("/")
        server.add_model(folder, name)
    await server.start(args.port)
    print(f"ComfyUI stand-in on {server.url} (root {args.root.resolve()}); Ctrl-C stops it")
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO)
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
