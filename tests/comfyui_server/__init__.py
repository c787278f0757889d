"""A loopback stand-in for ComfyUI 0.3.64, checked against the recorded real server.

    from tests.comfyui_server import ComfyTestServer

    async with ComfyTestServer(tmp_path) as server:
        ...  # talk HTTP / websocket to server.url

`transcript` loads the recordings in tests/fixtures/comfyui for tests that compare.
"""

from .media import Media
from .nodedefs import bundled_models, models_in
from .server import ComfyTestServer, InterruptProcessing
from .transcript import (
    Exchange,
    Transcript,
    bad_workflows,
    label,
    load_transcript,
    load_workflow,
)

__all__ = [
    "ComfyTestServer",
    "Exchange",
    "InterruptProcessing",
    "Media",
    "Transcript",
    "bad_workflows",
    "bundled_models",
    "label",
    "load_transcript",
    "load_workflow",
    "models_in",
]
