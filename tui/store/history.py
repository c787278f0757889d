"""What the job journal remembers about each asset: its last failure.

A failure stays visible until the asset is made or its scene edited, across
restarts, so it is read from the journal rather than kept in memory only.
"""

from __future__ import annotations

from tui.domain.jobs import Job
from tui.store.transaction import JOB_COLUMNS, Tx, job_from_row


def latest_failures(tx: Tx) -> list[Job]:
    """For each (scene, kind) whose newest job failed: that job."""
    columns = ", ".join(f"j.{column.strip()}" for column in JOB_COLUMNS.split(","))
    rows = tx.db.execute(
        f"SELECT {columns} FROM jobs j WHERE j.state = 'failed' AND j.id = "
        "(SELECT max(k.id) FROM jobs k WHERE k.scene_id = j.scene_id AND k.kind = j.kind) "
        "ORDER BY j.id"
    ).fetchall()
    return [job_from_row(row) for row in rows]
