"""Media building blocks: narration audio, clip frames and the rough cut.

Blocking functions over PyAV and Pillow, with no Textual and no engine, so the
CLI, the runner and the TUI can all call them (the TUI from a thread worker).
"""

from __future__ import annotations

from tui.media.errors import MediaError

__all__ = ["MediaError"]
