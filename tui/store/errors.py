"""Store failures worded for one line on a terminal."""

from __future__ import annotations


class StoreError(Exception):
    """A project that cannot be opened or written; the message names the file."""


class NotFoundError(StoreError):
    """A scene or job that is not in the project."""
