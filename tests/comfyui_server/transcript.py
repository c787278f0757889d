"""Read the recorded ComfyUI transcripts so tests can compare the stand-in with the real server.

The recorder labelled each websocket frame in its `note` sequences ("progress 1/5 node=1",
"<binary event 1>", ...). `label()` reproduces that labelling for any frame, recorded or
live, so a test can compare a live run with the record line by line.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "comfyui"
TRANSCRIPTS = FIXTURES / "transcripts"
WORKFLOWS = FIXTURES / "workflows"
OBJECT_INFO = FIXTURES / "object_info.core.json"

SCENARIOS = (
    "basics",
    "upload",
    "image",
    "cached",
    "video",
    "failure",
    "bad_workflows",
    "queue_interrupt",
    "no_client_id",
    "feature_flags",
    "reconnect",
    "restart",
)
"""Scenario transcripts in the order they were recorded against one server."""


@dataclass(frozen=True)
class Exchange:
    """One recorded HTTP request and its response."""

    request: dict[str, Any]
    response: dict[str, Any]

    @property
    def method(self) -> str:
        return str(self.request["method"])

    @property
    def path(self) -> str:
        return str(self.request["path"])

    @property
    def status(self) -> int:
        return int(self.response["status"])

    @property
    def content_type(self) -> str | None:
        """The media type without parameters, or None when the response had none."""
        value = self.response.get("headers", {}).get("content-type")
        return value.split(";")[0].strip() if value else None

    @property
    def body(self) -> Any:
        return self.response.get("body")

    @property
    def body_is_summary(self) -> bool:
        """True when the recorder kept only the length of a large or binary body."""
        body = self.body
        return isinstance(body, dict) and set(body) == {"len", "saved_to"}


@dataclass
class Transcript:
    """The events of one scenario, in recorded order."""

    name: str
    events: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def load(cls, name: str) -> Transcript:
        return _load(name)

    def of_kind(self, *kinds: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["kind"] in kinds]

    def exchanges(self) -> list[Exchange]:
        """Requests paired with their responses (unanswered requests are left out)."""
        out: list[Exchange] = []
        waiting: list[dict[str, Any]] = []
        for event in self.events:
            if event["kind"] == "http_request":
                waiting.append(event)
            elif event["kind"] == "http_response":
                for i, req in enumerate(waiting):
                    if req["method"] == event["method"] and req["path"] == event["path"]:
                        out.append(Exchange(waiting.pop(i), event))
                        break
        return out

    def exchange(self, method: str, path_prefix: str, index: int = 0) -> Exchange:
        """The index-th exchange whose method matches and whose path starts with path_prefix."""
        found = [
            x for x in self.exchanges() if x.method == method and x.path.startswith(path_prefix)
        ]
        return found[index]

    def find_exchange(self, method: str, path: str) -> Exchange | None:
        """The first exchange with exactly this method and path, if the recorder made one."""
        return next((x for x in self.exchanges() if x.method == method and x.path == path), None)

    def frames(self, conn: str | None = None) -> list[dict[str, Any]]:
        """Websocket frames received (text and binary), optionally for one connection."""
        return [
            e for e in self.of_kind("ws_text", "ws_binary") if conn is None or e.get("conn") == conn
        ]

    def notes(self, startswith: str = "") -> list[dict[str, Any]]:
        return [e for e in self.of_kind("note") if str(e.get("text", "")).startswith(startswith)]

    def sequence(self, startswith: str, index: int = 0) -> list[str]:
        """The labelled websocket sequence of the index-th note whose text starts so."""
        return list(self.notes(startswith)[index]["sequence"])

    def messages(self, msg_type: str, conn: str | None = None) -> list[dict[str, Any]]:
        """Decoded text frames of one type."""
        return [
            json.loads(e["raw"])
            for e in self.frames(conn)
            if e["kind"] == "ws_text" and e.get("msg_type") == msg_type
        ]

    def prompt_ids(self) -> list[str]:
        """Prompt ids the server handed out, in order."""
        ids = []
        for x in self.exchanges():
            if x.method == "POST" and x.path == "/prompt" and isinstance(x.body, dict):
                pid = x.body.get("prompt_id")
                if pid:
                    ids.append(str(pid))
        return ids


@cache
def _load(name: str) -> Transcript:
    path = TRANSCRIPTS / f"{name}.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    return Transcript(name, [json.loads(line) for line in lines if line.strip()])


def load_transcript(name: str) -> Transcript:
    """A scenario transcript by name, e.g. "image" (cached; do not mutate)."""
    return _load(name)


def load_workflow(name: str) -> dict[str, Any]:
    """A fresh copy of a recorded API-format workflow, e.g. "image_slow_solid_save"."""
    return json.loads((WORKFLOWS / f"{name}.json").read_text(encoding="utf-8"))


def bad_workflows() -> dict[str, dict[str, Any]]:
    """The invalid prompts of the bad_workflows scenario, by case name."""
    return load_workflow("bad_workflows")


def label(frame: str | bytes | dict[str, Any]) -> str:
    """The recorder's label for a websocket frame.

    Accepts a live text frame (str), a live binary frame (bytes), a decoded message dict,
    or a recorded `ws_text` / `ws_binary` event.
    """
    if isinstance(frame, bytes | bytearray):
        return f"<binary event {struct.unpack('>I', bytes(frame[:4]))[0]}>"
    if isinstance(frame, str):
        return label(json.loads(frame))
    if frame.get("kind") == "ws_binary":
        return f"<binary event {frame['event_type']}>"
    if frame.get("kind") == "ws_text":
        return label(json.loads(frame["raw"]))
    msg_type = frame.get("type")
    data = frame.get("data") or {}
    if msg_type == "status":
        remaining = data.get("status", {}).get("exec_info", {}).get("queue_remaining")
        return f"status queue_remaining={remaining}"
    if msg_type == "execution_cached":
        return f"execution_cached nodes={list(data.get('nodes', []))!r}"
    if msg_type == "progress_state":
        states = ",".join(f"{k}:{v['state']}" for k, v in data.get("nodes", {}).items())
        return f"progress_state {states}"
    if msg_type == "executing":
        return f"executing node={data.get('node')}"
    if msg_type == "progress":
        return f"progress {data.get('value')}/{data.get('max')} node={data.get('node')}"
    if msg_type == "executed":
        keys = list((data.get("output") or {}).keys())
        return f"executed node={data.get('node')} output_keys={keys!r}"
    return str(msg_type)


def kind_of(lbl: str) -> str:
    """The message type of a label, e.g. "progress" for "progress 1/5 node=1"."""
    return "<binary>" if lbl.startswith("<binary") else lbl.split(" ", 1)[0]


def json_shape(value: Any) -> Any:
    """A structural fingerprint: dict keys, list lengths and JSON types, not values."""
    if isinstance(value, dict):
        return {k: json_shape(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [json_shape(v) for v in value]
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if value is None:
        return "null"
    return type(value).__name__


def walk(value: Any) -> Iterator[Any]:
    """Every value nested in a JSON document, depth first."""
    yield value
    if isinstance(value, dict):
        for v in value.values():
            yield from walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from walk(v)


def scrub(value: Any, drop: frozenset[str] = frozenset({"timestamp"})) -> Any:
    """A copy with the named keys removed at any depth, for exact comparisons with the record."""
    if isinstance(value, dict):
        return {k: scrub(v, drop) for k, v in value.items() if k not in drop}
    if isinstance(value, list):
        return [scrub(v, drop) for v in value]
    return value
