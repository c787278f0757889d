"""Noticing that the terminal is gone, so the TUI never lingers on a dead SSH link.

A closed terminal shows up as SIGHUP, or (when the signal went elsewhere, say
to `make`) as a hang-up on the tty itself: reads return EOF or EIO, and
Textual's input thread would spin on it. `TerminalWatch` polls the tty for a
hang-up without reading from it (so it never steals a key press) and calls
back once. The app then saves what is typed and exits; the runner, which has
no terminal, carries on with the jobs.
"""

from __future__ import annotations

import os
import select
import threading
from collections.abc import Callable

HANGUP_GRACE = 1.8
"""Seconds from a hang-up to a forced exit, should a clean one stall on the dead tty."""
_GONE = select.POLLHUP | select.POLLERR | select.POLLNVAL


class TerminalWatch(threading.Thread):
    """Calls `on_hang_up` once when the tty at `fd` hangs up; a daemon thread."""

    def __init__(self, fd: int, on_hang_up: Callable[[], None], interval: float = 0.25) -> None:
        super().__init__(name="terminal-watch", daemon=True)
        self.fd = fd
        self.on_hang_up = on_hang_up
        self.interval = interval
        self._stopped = threading.Event()

    def run(self) -> None:
        poller = select.poll()
        poller.register(self.fd, 0)  # no read events: hang-ups and errors are always reported
        while not self._stopped.is_set():
            try:
                events = poller.poll(self.interval * 1000)
            except OSError:
                events = [(self.fd, select.POLLERR)]
            if any(mask & _GONE for _fd, mask in events):
                self.on_hang_up()
                return

    def stop(self) -> None:
        self._stopped.set()


def force_exit_later(seconds: float = HANGUP_GRACE, status: int = 129) -> threading.Timer:
    """Exit the process after `seconds` even if the clean exit stalls; drafts are saved first."""
    timer = threading.Timer(seconds, os._exit, (status,))
    timer.daemon = True
    timer.start()
    return timer
