"""Execution bookkeeping that decides *which* messages a job produces and in what order.

Ported in behaviour from ComfyUI 0.3.64: the classic output cache keyed by an input
signature (so an identical node anywhere is "cached"), the execution list that only
walks uncached ancestors and prefers output nodes, and the per-prompt progress registry
behind `progress_state`.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from typing import Any

from .nodedefs import NodeDefs
from .validation import is_link


def signatures(prompt: dict[str, Any], is_changed: Callable[[str], Any]) -> dict[str, str]:
    """A cache key per node: class, IS_CHANGED value, inputs, and ancestors' keys.

    Node ids are not part of the key, as in ComfyUI, so a renumbered identical graph hits
    the cache; a node in a cycle or linking to nothing gets a key that never matches.
    """
    memo: dict[str, str] = {}

    def sig(node_id: Any, stack: frozenset[str]) -> str:
        if not isinstance(node_id, str) or node_id not in prompt or node_id in stack:
            return f"uncachable:{uuid.uuid4()}"
        if node_id in memo:
            return memo[node_id]
        node = prompt[node_id]
        inputs = node.get("inputs", {})
        parts: list[Any] = [node.get("class_type"), is_changed(node_id)]
        for key in sorted(inputs):
            value = inputs[key]
            if is_link(value):
                parts.append([key, "ANCESTOR", sig(value[0], stack | {node_id}), value[1]])
            else:
                parts.append([key, value])
        digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode())
        memo[node_id] = digest.hexdigest()
        return memo[node_id]

    return {node_id: sig(node_id, frozenset()) for node_id in prompt}


class OutputCache:
    """Node outputs and UI results by signature; survives only into the next prompt."""

    def __init__(self) -> None:
        self.outputs: dict[str, list[Any]] = {}
        self.ui: dict[str, dict[str, Any]] = {}

    def keep_only(self, keys: set[str]) -> None:
        """ComfyUI's clean_unused: drop entries the new prompt does not use."""
        self.outputs = {k: v for k, v in self.outputs.items() if k in keys}
        self.ui = {k: v for k, v in self.ui.items() if k in keys}

    def clear(self) -> None:
        self.outputs.clear()
        self.ui.clear()


class ExecutionList:
    """The order ComfyUI runs nodes in: output-first among ready nodes, cached ones skipped."""

    def __init__(
        self, prompt: dict[str, Any], defs: NodeDefs, is_cached: Callable[[str], bool]
    ) -> None:
        self.prompt = prompt
        self.defs = defs
        self.is_cached = is_cached
        self.pending: dict[str, None] = {}
        self.block_count: dict[str, int] = {}
        self.blocking: dict[str, dict[str, None]] = {}

    def add_node(self, root: str) -> None:
        stack = [root]
        links: list[tuple[str, str]] = []
        while stack:
            uid = stack.pop()
            if uid in self.pending:
                continue
            self.pending[uid] = None
            self.block_count[uid] = 0
            self.blocking[uid] = {}
            for value in self.prompt[uid].get("inputs", {}).values():
                if is_link(value):
                    source = value[0]
                    if not self.is_cached(source):
                        stack.append(source)
                    links.append((source, uid))
        for source, target in links:
            if not self.is_cached(source):
                self.add_node(source)
                if target not in self.blocking[source]:
                    self.blocking[source][target] = None
                    self.block_count[target] += 1

    def is_empty(self) -> bool:
        return not self.pending

    def _is_output(self, node_id: str) -> bool:
        return self.defs.is_output(self.prompt[node_id]["class_type"])

    def stage(self) -> str:
        """The next node to run (ComfyUI's ux_friendly_pick_node)."""
        ready = [n for n in self.pending if self.block_count[n] == 0]
        if not ready:
            raise RuntimeError("Dependency cycle detected")
        for node_id in ready:
            if self._is_output(node_id):
                return node_id
        for node_id in ready:
            if any(self._is_output(b) for b in self.blocking[node_id]):
                return node_id
        for node_id in ready:
            for b in self.blocking[node_id]:
                if any(self._is_output(b2) for b2 in self.blocking[b]):
                    return node_id
        return ready[0]

    def complete(self, node_id: str) -> None:
        for blocked in self.blocking[node_id]:
            self.block_count[blocked] -= 1
        del self.pending[node_id]


class ProgressRegistry:
    """Per-node progress for one prompt; every change is reported as a `progress_state`."""

    def __init__(
        self,
        prompt_id: str,
        send: Callable[[str, dict[str, Any]], None],
        *,
        activity: bool = False,
    ) -> None:
        self.prompt_id = prompt_id
        self.send = send
        self.activity = activity
        """Newer releases add `activity` ("loading" before a node's first step)."""
        self.nodes: dict[str, dict[str, Any]] = {}

    def _ensure(self, node_id: str) -> dict[str, Any]:
        return self.nodes.setdefault(node_id, {"state": "pending", "value": 0, "max": 1})

    def _report(self) -> None:
        active = {
            node_id: {
                "value": state["value"],
                "max": state["max"],
                "state": state["state"],
                "node_id": node_id,
                "prompt_id": self.prompt_id,
                "display_node_id": node_id,
                "parent_node_id": None,
                "real_node_id": node_id,
            }
            for node_id, state in self.nodes.items()
            if state["state"] != "pending"
        }
        if self.activity:
            for entry in active.values():
                if entry["state"] == "running" and not entry["value"]:
                    entry["activity"] = "loading"
        self.send("progress_state", {"prompt_id": self.prompt_id, "nodes": active})

    def start(self, node_id: str) -> None:
        entry = self._ensure(node_id)
        entry.update(state="running", value=0.0, max=1.0)
        self._report()

    def update(self, node_id: str, value: int, total: int) -> None:
        entry = self._ensure(node_id)
        entry.update(state="running", value=value, max=total)
        self._report()

    def finish(self, node_id: str) -> None:
        entry = self._ensure(node_id)
        entry["state"] = "finished"
        entry["value"] = entry["max"]
        self._report()
