"""ComfyUI's wire format, parsed without any I/O: messages, previews, errors, history.

Everything here reads server text, which is untrusted: a field of the wrong type is
ignored rather than trusted, long strings are cut, and no name is ever turned into
a path. Kept apart from the client so it can be tested against the recorded
transcripts of a real ComfyUI 0.3.64 (tests/fixtures/comfyui).
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, TypeGuard

from tui.domain.models import AssetKind

PREVIEW_IMAGE = 1
"""Binary event: u32 image format (1 JPEG, 2 PNG), then the image."""
PREVIEW_IMAGE_WITH_METADATA = 4
"""Binary event: u32 JSON length, JSON (node and prompt ids, mime), then the image."""
FEATURE_FLAGS = json.dumps({"type": "feature_flags", "data": {"supports_preview_metadata": True}})
"""Our first websocket message; without it the server sends only type 1 previews."""

_FORMATS = {1: "image/jpeg", 2: "image/png"}
_MIMES = frozenset({"image/jpeg", "image/png", "image/webp"})
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
TEXT_LIMIT = 300

STILL_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp"})
CLIP_SUFFIXES = (".mp4", ".webm", ".mov", ".mkv", ".gif")
"""Containers that are clips whatever `animated` says, best first."""
ANIMATED_SUFFIXES = (".webp", ".png")
"""Clips only when the saver marks them `animated: [true]` (SaveAnimatedWEBP, SaveAnimatedPNG)."""


def clean(text: Any, limit: int = TEXT_LIMIT) -> str:
    """Server text on one line, without control characters, cut to `limit`."""
    line = _CONTROL.sub(" ", str(text)).strip()
    line = re.sub(r" {2,}", " ", line)
    return line if len(line) <= limit else line[: limit - 1] + "…"


# -- websocket -------------------------------------------------------------------------


def parse_message(raw: str | bytes) -> tuple[str, dict[str, Any]] | None:
    """(type, data) of a text frame, or None for anything that is not a ComfyUI message."""
    try:
        message = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(message, dict):
        return None
    kind, data = message.get("type"), message.get("data")
    if not isinstance(kind, str) or not isinstance(data, dict):
        return None
    return kind, data


@dataclass(frozen=True)
class PreviewFrame:
    """A decoded binary preview; type 1 frames carry no prompt id."""

    data: bytes
    mime: str
    prompt_id: str | None = None
    node: str | None = None


def _sniff(image: bytes) -> str | None:
    if image.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if image.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if image[:4] == b"RIFF" and image[8:12] == b"WEBP":
        return "image/webp"
    return None


def decode_preview(frame: bytes) -> PreviewFrame | None:
    """A preview from a binary frame (type 1 or 4), or None for other or broken frames."""
    if len(frame) < 8:
        return None
    event, second = struct.unpack_from(">II", frame)
    if event == PREVIEW_IMAGE:
        image = frame[8:]
        mime = _sniff(image) or _FORMATS.get(second)
        return PreviewFrame(image, mime) if mime and image else None
    if event != PREVIEW_IMAGE_WITH_METADATA:
        return None
    end = 8 + second
    if end > len(frame):
        return None
    try:
        meta = json.loads(frame[8:end])
    except ValueError:
        return None
    if not isinstance(meta, dict):
        return None
    image = frame[end:]
    declared = meta.get("image_type")
    mime = _sniff(image) or (declared if declared in _MIMES else None)
    if not mime or not image:
        return None
    prompt_id = meta.get("prompt_id")
    node = meta.get("node_id")
    return PreviewFrame(
        image,
        mime,
        prompt_id if isinstance(prompt_id, str) else None,
        node if isinstance(node, str) else None,
    )


# -- progress ----------------------------------------------------------------------------


class ProgressTracker:
    """One job's overall fraction: finished nodes plus the running node's steps.

    `(done + value / max) / total`, where `total` counts the nodes that will
    run (the graph less what `execution_cached` named). Messages can repeat or
    arrive after a reconnect with gaps, so the fraction never goes back, and it
    stays below 1 until the job's result is in.
    """

    CEILING = 0.99
    STEP = 0.001
    """Smaller rises are not worth an event: a server sending endless progress messages
    (issue 10 item 7) gives at most 1,000 events per job instead of one per message."""

    def __init__(self, nodes: int) -> None:
        self.nodes = max(1, nodes)
        self.cached: frozenset[str] = frozenset()
        self.finished: set[str] = set()
        self.node: str | None = None
        self.value = 0
        self.max = 1
        self.fraction = 0.0

    @property
    def total(self) -> int:
        return max(1, self.nodes - len(self.cached))

    def on_cached(self, nodes: Any) -> None:
        if isinstance(nodes, list):
            self.cached = frozenset(str(node) for node in nodes)

    def on_executing(self, node: str) -> None:
        if self.node is not None and self.node != node:
            self.finished.add(self.node)
        self.node, self.value, self.max = node, 0, 1

    def on_progress(self, node: Any, value: Any, maximum: Any) -> None:
        if not _is_number(value) or not _is_number(maximum) or maximum <= 0:
            return
        if isinstance(node, str) and node != self.node:
            self.on_executing(node)
        self.value, self.max = int(value), int(maximum)

    def on_state(self, nodes: Any) -> None:
        """`progress_state`: every node the server has touched, with its state."""
        if not isinstance(nodes, dict):
            return
        for node_id, info in nodes.items():
            if not isinstance(info, dict):
                continue
            state = info.get("state")
            if state == "finished":
                self.finished.add(str(node_id))
            elif state == "running" and str(node_id) == self.node:
                value, maximum = info.get("value"), info.get("max")
                if _is_number(value) and _is_number(maximum) and maximum > 0:
                    self.value, self.max = int(value), int(maximum)

    def update(self) -> float | None:
        """The new fraction if it went up, else None (nothing worth an event)."""
        done = len(self.finished - self.cached - {self.node})
        part = min(1.0, self.value / self.max) if self.max > 0 else 0.0
        if self.node in self.cached or self.node in self.finished:
            part = 0.0
        fraction = min(self.CEILING, (done + part) / self.total)
        if fraction < self.fraction + self.STEP and fraction < self.CEILING:
            return None
        if fraction <= self.fraction:
            return None
        self.fraction = fraction
        return fraction


def _is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


# -- errors ------------------------------------------------------------------------------


def _node_error_lines(node_errors: Any, graph: Mapping[str, Any] | None) -> list[str]:
    lines: list[str] = []
    if not isinstance(node_errors, dict):
        return lines
    for node_id, entry in node_errors.items():
        if not isinstance(entry, dict):
            continue
        class_type = entry.get("class_type")
        if not isinstance(class_type, str) and graph is not None:
            node = graph.get(str(node_id))
            class_type = node.get("class_type") if isinstance(node, dict) else None
        where = f"node {clean(node_id, 40)}"
        if isinstance(class_type, str):
            where += f" ({clean(class_type, 80)})"
        errors = entry.get("errors")
        for error in errors if isinstance(errors, list) else []:
            if not isinstance(error, dict):
                continue
            extra = error.get("extra_info")
            name = extra.get("input_name") if isinstance(extra, dict) else None
            message = clean(error.get("message") or error.get("type") or "invalid", 160)
            details = clean(error.get("details") or "", 200)
            text = where + (f" input {clean(name, 60)!r}" if isinstance(name, str) else "")
            text += f": {message}"
            if details and details != name:
                text += f" ({details})"
            lines.append(text)
    return lines


def describe_rejection(status: int, body: Any, graph: Mapping[str, Any] | None = None) -> str:
    """A readable line for a refused `POST /prompt`: the error, then each node's errors."""
    if isinstance(body, dict):
        error = body.get("error")
        head = "refused"
        lines = _node_error_lines(body.get("node_errors"), graph)
        if isinstance(error, dict):
            head = clean(error.get("message") or error.get("type") or "refused", 200)
            details = clean(error.get("details") or "", 200)
            if details and details not in head and not lines:  # else the nodes say it better
                head += f" ({details})"
        elif isinstance(error, str):
            head = clean(error, 200)
        return "; ".join([head, *lines[:6]]) + (
            f" (and {len(lines) - 6} more)" if len(lines) > 6 else ""
        )
    text = clean(body if isinstance(body, str) else "", 200)
    return f"HTTP {status}" + (f": {text}" if text else "")


def execution_error_message(data: Mapping[str, Any]) -> str:
    """`execution_error` as the job's failure: `"{node_type}: {exception_message}"`."""
    node_type = data.get("node_type")
    message = data.get("exception_message")
    kind = clean(node_type, 80) if isinstance(node_type, str) and node_type else "ComfyUI"
    text = clean(message) if isinstance(message, str) and message.strip() else "failed"
    return f"{kind}: {text}"


# -- history -----------------------------------------------------------------------------


@dataclass(frozen=True)
class OutputFile:
    """One file a saver reported; every field is server text."""

    node: str
    filename: str
    subfolder: str
    type: str
    animated: bool

    @property
    def suffix(self) -> str:
        return PurePosixPath(self.filename).suffix.lower()


@dataclass(frozen=True)
class HistoryResult:
    """What `/history/{id}` says about one finished prompt."""

    succeeded: bool
    files: list[OutputFile]
    error: str | None = None
    interrupted: bool = False
    cached: frozenset[str] = frozenset()
    """Nodes that ran from cache; when they include every saver, no new file was written."""


def output_files(outputs: Any) -> list[OutputFile]:
    """Every file under `images` of every output node (core savers all report there)."""
    files: list[OutputFile] = []
    if not isinstance(outputs, dict):
        return files
    for node_id, output in outputs.items():
        if not isinstance(output, dict):
            continue
        animated_flags = output.get("animated")
        animated = isinstance(animated_flags, list) and any(f is True for f in animated_flags)
        for key in ("images", "gifs", "videos"):  # only `images` in core; others for plugins
            items = output.get(key)
            for item in items if isinstance(items, list) else []:
                if not isinstance(item, dict) or not isinstance(item.get("filename"), str):
                    continue
                subfolder = item.get("subfolder")
                folder_type = item.get("type")
                files.append(
                    OutputFile(
                        str(node_id),
                        item["filename"],
                        subfolder if isinstance(subfolder, str) else "",
                        folder_type if isinstance(folder_type, str) else "output",
                        animated or key != "images",
                    )
                )
    return files


def parse_history(body: Any, prompt_id: str) -> HistoryResult | None:
    """The prompt's result, or None while the server does not know it as finished."""
    if not isinstance(body, dict):
        return None
    entry = body.get(prompt_id)
    if not isinstance(entry, dict):
        return None
    files = output_files(entry.get("outputs"))
    status = entry.get("status")
    if not isinstance(status, dict):
        return HistoryResult(succeeded=True, files=files)
    error: str | None = None
    interrupted = False
    cached: frozenset[str] = frozenset()
    messages = status.get("messages")
    for message in messages if isinstance(messages, list) else []:
        if not (isinstance(message, list) and len(message) == 2 and isinstance(message[1], dict)):
            continue
        kind, data = message
        if kind == "execution_error":
            error = execution_error_message(data)
        elif kind == "execution_interrupted":
            interrupted = True
        elif kind == "execution_cached" and isinstance(data.get("nodes"), list):
            cached = frozenset(str(node) for node in data["nodes"])
    succeeded = status.get("status_str") == "success" and error is None and not interrupted
    if not succeeded and error is None and not interrupted:
        error = f"ComfyUI reported {clean(status.get('status_str') or 'an error', 40)}"
    return HistoryResult(succeeded, files, error, interrupted, cached)


def _rank_clip(file: OutputFile) -> int | None:
    if file.suffix in CLIP_SUFFIXES:
        return CLIP_SUFFIXES.index(file.suffix)
    if file.animated and file.suffix in ANIMATED_SUFFIXES:
        return len(CLIP_SUFFIXES) + ANIMATED_SUFFIXES.index(file.suffix)
    return None


def pick_output(files: list[OutputFile], kind: AssetKind) -> OutputFile | None:
    """The file a job keeps: a still for an image job, a clip for a video job.

    Files in `output` beat `temp` ones (PreviewImage); among clips, real video
    containers beat animated webp/png; otherwise the first in node order wins.
    """
    ranked: list[tuple[int, int, int, OutputFile]] = []
    for order, file in enumerate(files):
        if kind is AssetKind.IMAGE:
            rank = 0 if file.suffix in STILL_SUFFIXES and not file.animated else None
        else:
            rank = _rank_clip(file)
        if rank is not None:
            ranked.append((0 if file.type == "output" else 1, rank, order, file))
    return min(ranked, key=lambda item: item[:3])[3] if ranked else None


def no_output_message(kind: AssetKind, result: HistoryResult) -> str:
    """Why a successful prompt gave the job nothing, and what to change."""
    saved = sorted({file.node for file in result.files})
    if result.files:
        found = ", ".join(sorted({file.suffix or file.filename for file in result.files}))
        want = "a still" if kind is AssetKind.IMAGE else "a clip (video or animated file)"
        return (
            f"ComfyUI finished but saved no {kind.value} output: it reported {found}, "
            f"not {want}; check the workflow's save node"
        )
    if result.cached:
        return (
            f"ComfyUI finished but reported no {kind.value} output: the prompt was answered "
            "from its cache (an identical prompt ran before) and nothing was saved; "
            "change the seed or prompt to get a new take"
        )
    nodes = f" (output nodes: {', '.join(saved)})" if saved else ""
    return (
        f"ComfyUI finished but reported no {kind.value} output{nodes}; "
        "does the workflow end in a save node such as SaveImage or SaveVideo?"
    )


def queue_ids(body: Any) -> tuple[set[str], set[str]]:
    """(running, pending) prompt ids from `GET /queue`."""

    def ids(items: Any) -> set[str]:
        found: set[str] = set()
        for item in items if isinstance(items, list) else []:
            if isinstance(item, list) and len(item) > 1 and isinstance(item[1], str):
                found.add(item[1])
        return found

    if not isinstance(body, dict):
        return set(), set()
    return ids(body.get("queue_running")), ids(body.get("queue_pending"))
