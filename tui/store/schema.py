"""The database schema and its forward migrations.

`PRAGMA user_version` holds the schema version. Each migration moves the
database one version forward inside its own transaction; an older app that
meets a newer database refuses it instead of guessing.
"""

from __future__ import annotations

MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE project (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        name TEXT NOT NULL,
        width INTEGER NOT NULL,
        height INTEGER NOT NULL,
        fps INTEGER NOT NULL,
        rev INTEGER NOT NULL DEFAULT 0,
        created TEXT NOT NULL
    );
    CREATE TABLE scenes (
        id INTEGER PRIMARY KEY,
        position INTEGER NOT NULL,
        narration TEXT NOT NULL,
        audio_file TEXT,
        audio_duration REAL NOT NULL,
        image_prompt TEXT NOT NULL DEFAULT '',
        negative_prompt TEXT NOT NULL DEFAULT '',
        seed INTEGER NOT NULL DEFAULT 0,
        video_prompt TEXT NOT NULL DEFAULT '',
        camera TEXT NOT NULL DEFAULT 'static',
        motion REAL NOT NULL DEFAULT 0.5,
        rev INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX scenes_position ON scenes(position);
    CREATE INDEX scenes_rev ON scenes(rev);
    CREATE TABLE assets (
        id INTEGER PRIMARY KEY,
        scene_id INTEGER NOT NULL REFERENCES scenes(id) ON DELETE CASCADE,
        kind TEXT NOT NULL CHECK (kind IN ('image', 'video')),
        file TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        inputs TEXT NOT NULL,
        job_id INTEGER,
        created TEXT NOT NULL,
        UNIQUE (scene_id, kind)
    );
    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY,
        scene_id INTEGER NOT NULL REFERENCES scenes(id) ON DELETE CASCADE,
        kind TEXT NOT NULL CHECK (kind IN ('image', 'video')),
        params TEXT NOT NULL,
        params_hash TEXT NOT NULL,
        backend TEXT NOT NULL,
        backend_job_id TEXT NOT NULL UNIQUE,
        state TEXT NOT NULL,
        progress REAL NOT NULL DEFAULT 0,
        error TEXT,
        depends_on INTEGER REFERENCES jobs(id),
        attempts INTEGER NOT NULL DEFAULT 0,
        server TEXT,
        created TEXT NOT NULL,
        updated TEXT NOT NULL,
        started TEXT,
        finished TEXT
    );
    CREATE INDEX jobs_active ON jobs(state)
        WHERE state IN ('queued', 'submitted', 'running');
    CREATE INDEX jobs_scene ON jobs(scene_id, kind);
    """,
    2: """
    ALTER TABLE jobs ADD COLUMN rev INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX jobs_rev ON jobs(rev);
    """,
    3: """
    CREATE TABLE jobs_v3 (
        id INTEGER PRIMARY KEY,
        scene_id INTEGER REFERENCES scenes(id) ON DELETE CASCADE,
        kind TEXT NOT NULL CHECK (kind IN ('image', 'video', 'cut')),
        params TEXT NOT NULL,
        params_hash TEXT NOT NULL,
        backend TEXT NOT NULL,
        backend_job_id TEXT NOT NULL UNIQUE,
        state TEXT NOT NULL,
        progress REAL NOT NULL DEFAULT 0,
        error TEXT,
        depends_on INTEGER REFERENCES jobs(id),
        attempts INTEGER NOT NULL DEFAULT 0,
        server TEXT,
        created TEXT NOT NULL,
        updated TEXT NOT NULL,
        started TEXT,
        finished TEXT,
        rev INTEGER NOT NULL DEFAULT 0,
        CHECK ((kind = 'cut') = (scene_id IS NULL))
    );
    INSERT INTO jobs_v3 (id, scene_id, kind, params, params_hash, backend, backend_job_id,
                         state, progress, error, depends_on, attempts, server, created,
                         updated, started, finished, rev)
        SELECT id, scene_id, kind, params, params_hash, backend, backend_job_id, state,
               progress, error, depends_on, attempts, server, created, updated, started,
               finished, rev
        FROM jobs;
    DROP TABLE jobs;
    ALTER TABLE jobs_v3 RENAME TO jobs;
    CREATE INDEX jobs_active ON jobs(state)
        WHERE state IN ('queued', 'submitted', 'running');
    CREATE INDEX jobs_scene ON jobs(scene_id, kind);
    CREATE INDEX jobs_rev ON jobs(rev);
    ALTER TABLE scenes ADD COLUMN audio_hash TEXT;
    ALTER TABLE scenes ADD COLUMN audio_size INTEGER;
    ALTER TABLE scenes ADD COLUMN audio_mtime INTEGER;
    CREATE TABLE cut (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        file TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        inputs TEXT NOT NULL,
        subtitles TEXT,
        how TEXT NOT NULL DEFAULT '',
        notes TEXT NOT NULL DEFAULT '[]',
        job_id INTEGER,
        created TEXT NOT NULL
    );
    """,
}
"""Version 2: jobs carry the project revision of their last change, so any viewer
(a second TUI, `storyboard regen` following a batch) reads only what changed.

Version 3: the rough cut. A job may belong to the whole project (kind `cut`, no
scene), so exporting journals, survives and reports like any job; the jobs
table is rebuilt, since SQLite cannot relax a NOT NULL in place. Scenes keep
their narration audio's content hash, size and mtime (the cut's fingerprint
needs the hash; size and mtime tell a changed file without reading it). The
`cut` row is the current film: its file, content hash and the inputs it was
made from, like an asset's."""

LATEST_VERSION = max(MIGRATIONS)
