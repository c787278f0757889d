"""Failures of a project's files and database, worded for one line on a terminal.

They sit below every layer: the store raises them, and the engine, the
backends, the TUI and the CLI catch them without importing the store.
"""

from __future__ import annotations


class StoreError(Exception):
    """A project that cannot be opened or written; the message names the file."""


class NotFoundError(StoreError):
    """A scene or job that is not in the project."""


class DatabaseDamaged(StoreError):
    """The database file is corrupt: nothing more can be trusted or written until it is
    salvaged, so every process stops on it instead of carrying on around it."""


class DiskFull(StoreError):
    """A write found no room; SQLite rolled the transaction back, so nothing changed."""


class ReadOnlyProject(StoreError):
    """The project can be read but not written (a read-only folder or file)."""
