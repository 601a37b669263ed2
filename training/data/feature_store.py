"""Features computed once per photo, kept on disk: what makes the second look at a folder cheap.

Finding likely-mislabelled photos, quick training, the zero-shot baseline, evaluation and
classification all run the same frozen network over the same photos. Each photo's pooled
features are stored here the first time, keyed by

- the photo's content (a hash of its bytes), found again cheaply from its path, size and
  modification time: a photo that changes gets a new content key and is embedded again, a
  renamed or copied one is found by its bytes;
- the "space" it was embedded in: the network's weights digest, the preprocessing and the
  view (`training.models.embedding.space_key`), so different networks, image sizes or
  augmented views never mix.

One SQLite file under `paths.cache_dir() / "features"`: transactions make every write atomic
(a killed process leaves the last committed state), WAL lets the app and the CLI share it,
and deleting the folder while nothing runs is always safe (it only costs recomputing). Each
vector carries a checksum; a vector that fails it, has the wrong length or is not finite is
deleted and recomputed, never trusted. The store is bounded (`DEFAULT_BUDGET_BYTES`, least
recently used out) and forgets files that no longer exist (`prune`).

The store is a cache: when it cannot be opened or written (a damaged file is replaced; a
full or read-only disk disables it), callers carry on computing, just without keeping.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training.core import paths as app_paths

FORMAT_VERSION = 1
BUDGET_ENV = "CHEETAHLION_FEATURE_STORE_BYTES"
DEFAULT_BUDGET_BYTES = 2 * 2**30
"""About 400,000 photos' EfficientNet-Lite0 features; the least recently used go first."""
PRUNE_EVERY_SECONDS = 600.0
"""How often opening the store looks for files that no longer exist."""
USED_REFRESH_SECONDS = 3600.0
"""A vector read is marked as used (for least-recently-used trimming) only when its mark is
older than this. Updating the mark rewrites the whole row, blob included: reading 10,000
stored vectors wrote 41 MB into the write-ahead log every time (the dataset map drawn twice,
the finder run after it), and on a busy disk one such read took 14 s instead of 1 s. An
hour is nothing against a store that holds months of photos."""
_FILE_NAME = "features.sqlite3"
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, size INTEGER NOT NULL,"
    " mtime_ns INTEGER NOT NULL, content TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS files_content ON files (content)",
    "CREATE TABLE IF NOT EXISTS vectors (content TEXT NOT NULL, space TEXT NOT NULL,"
    " vector BLOB NOT NULL, checksum TEXT NOT NULL, used REAL NOT NULL,"
    " PRIMARY KEY (content, space))",
    "CREATE INDEX IF NOT EXISTS vectors_used ON vectors (used)",
)
_CHUNK = 500
"""Rows per SQL statement: SQLite allows at most 32,766 parameters in one."""


@dataclass(frozen=True)
class FileStamp:
    """What finds a photo's content key without reading it: its path, size and mtime."""

    path: str
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: Path) -> FileStamp | None:
        """The file's stamp, or None when it cannot be seen (missing, no permission)."""
        try:
            status = os.stat(path)
        except OSError:
            return None
        return cls(os.path.abspath(path), status.st_size, status.st_mtime_ns)


def default_location() -> Path:
    return app_paths.cache_dir() / "features" / _FILE_NAME


def budget_bytes() -> int:
    """`CHEETAHLION_FEATURE_STORE_BYTES` when set to a whole number, else the default."""
    value = os.environ.get(BUDGET_ENV, "").strip()
    return int(value) if value.isdigit() else DEFAULT_BUDGET_BYTES


class FeatureStore:
    """Stored feature vectors by (content key, space); safe to share between threads."""

    def __init__(self, location: Path | None = None, budget: int | None = None) -> None:
        self.location = location or default_location()
        self.budget = budget_bytes() if budget is None else budget
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self._bytes: int | None = None
        """Bytes of vectors stored, counted once and then kept up to date by the writes:
        summing the table for every batch would cost more than the network at 2 GiB."""
        self.available = True
        """False once the store failed (a full or read-only disk): it then keeps nothing."""
        self._open()

    def content_keys(self, stamps: Sequence[FileStamp]) -> dict[str, str]:
        """Path → content key for the files whose stamp matches what was recorded."""
        found: dict[str, str] = {}
        wanted = {stamp.path: stamp for stamp in stamps}
        for chunk in _chunks(list(wanted), _CHUNK):
            rows = self._query(
                f"SELECT path, size, mtime_ns, content FROM files WHERE path IN "
                f"({_marks(chunk)})", chunk)
            for path, size, mtime_ns, content in rows:
                stamp = wanted[path]
                if (size, mtime_ns) == (stamp.size, stamp.mtime_ns):
                    found[path] = content
        return found

    def remember_files(self, keys: Iterable[tuple[FileStamp, str]]) -> None:
        """Record each file's stamp and content key (replacing what its path had)."""
        rows = [(stamp.path, stamp.size, stamp.mtime_ns, key) for stamp, key in keys]
        self._write("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?)", rows)

    def vectors(self, space: str, contents: Sequence[str], width: int) -> dict[str, np.ndarray]:
        """Content key → float32 vector of `width`, for the sound vectors stored in `space`.

        A damaged vector (wrong length, failed checksum, not finite) is deleted, so the
        caller computes and stores it again.
        """
        found: dict[str, np.ndarray] = {}
        damaged: list[tuple[str, str]] = []
        for chunk in _chunks(sorted(set(contents)), _CHUNK):
            rows = self._query(
                f"SELECT content, vector, checksum FROM vectors WHERE space = ? AND content IN "
                f"({_marks(chunk)})", [space, *chunk])
            for content, blob, checksum in rows:
                vector = _sound_vector(blob, checksum, width)
                if vector is None:
                    damaged.append((content, space))
                else:
                    found[content] = vector
        if damaged:
            self._write("DELETE FROM vectors WHERE content = ? AND space = ?", damaged)
        if found:  # a row is rewritten whole, blob included: only when its mark is stale
            now = time.time()
            self._write("UPDATE vectors SET used = ? WHERE content = ? AND space = ? "
                        "AND used < ?",
                        [(now, content, space, now - USED_REFRESH_SECONDS) for content in found])
        return found

    def store_vectors(self, space: str, vectors: dict[str, np.ndarray]) -> None:
        """Keep each content key's vector in `space`, then trim the store to its budget."""
        now = time.time()
        rows = []
        for content, vector in vectors.items():
            blob = np.ascontiguousarray(vector, dtype="<f4").tobytes()
            rows.append((content, space, blob, _checksum(blob), now))
        self._write("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?, ?, ?)", rows)
        if not rows:
            return
        if self._bytes is None:
            self._bytes = self.stored_bytes()
        else:  # an upper bound: a replaced row is counted twice until the next exact count
            self._bytes += sum(len(row[2]) for row in rows)
        if self._bytes > self.budget:
            self._trim()
            self._bytes = self.stored_bytes()

    def prune(self) -> int:
        """Forget files that no longer exist (or changed) and vectors no file refers to;
        return how many file records went."""
        rows = self._query("SELECT path, size, mtime_ns FROM files", [])
        gone = [(path,) for path, size, mtime_ns in rows
                if _stamp_changed(path, size, mtime_ns)]
        self._write("DELETE FROM files WHERE path = ?", gone)
        self._write("DELETE FROM vectors WHERE content NOT IN (SELECT content FROM files)",
                    [()])
        self._write("INSERT OR REPLACE INTO meta VALUES ('pruned', ?)", [(str(time.time()),)])
        return len(gone)

    def stored_bytes(self) -> int:
        rows = self._query("SELECT COALESCE(SUM(LENGTH(vector)), 0) FROM vectors", [])
        return int(rows[0][0]) if rows else 0

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def _open(self) -> None:
        """Open (or create) the file; a damaged one is deleted and made anew."""
        for attempt in range(2):
            try:
                self.location.parent.mkdir(parents=True, exist_ok=True)
                connection = sqlite3.connect(self.location, timeout=30.0,
                                             check_same_thread=False, isolation_level=None)
                _prepare(connection)
                self._connection = connection
                break
            except sqlite3.DatabaseError:
                if attempt == 0:
                    _delete_database(self.location)
            except OSError:
                break
        if self._connection is None:
            self.available = False
            return
        if self._seconds_since_prune() > PRUNE_EVERY_SECONDS:
            self.prune()

    def _seconds_since_prune(self) -> float:
        rows = self._query("SELECT value FROM meta WHERE key = 'pruned'", [])
        try:
            return time.time() - float(rows[0][0]) if rows else float("inf")
        except ValueError:
            return float("inf")

    def _trim(self) -> None:
        """Delete the least recently used vectors until the store fits its budget."""
        excess = self.stored_bytes() - self.budget
        while excess > 0 and self.available:
            rows = self._query("SELECT rowid, LENGTH(vector) FROM vectors ORDER BY used "
                               "LIMIT ?", [_CHUNK])
            if not rows:
                return
            chosen = []
            for rowid, size in rows:
                chosen.append((rowid,))
                excess -= size
                if excess <= 0:
                    break
            self._write("DELETE FROM vectors WHERE rowid = ?", chosen)

    def _query(self, sql: str, parameters: Sequence[object]) -> list[tuple]:
        with self._lock:
            if self._connection is None:
                return []
            try:
                return self._connection.execute(sql, parameters).fetchall()
            except sqlite3.Error:
                self._fail()
                return []

    def _write(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        if not rows:
            return
        with self._lock:
            if self._connection is None:
                return
            try:
                with self._connection:  # one transaction: all of it or none
                    self._connection.execute("BEGIN IMMEDIATE")
                    self._connection.executemany(sql, rows)
            except sqlite3.Error:
                self._fail()

    def _fail(self) -> None:
        """Stop using the store for this session: a cache must never break the work."""
        self.available = False
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def _prepare(connection: sqlite3.Connection) -> None:
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    for statement in _SCHEMA:
        connection.execute(statement)
    row = connection.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
    if row is None:
        connection.execute("INSERT INTO meta VALUES ('format', ?)", (str(FORMAT_VERSION),))
    elif row[0] != str(FORMAT_VERSION):
        raise sqlite3.DatabaseError(f"feature store format {row[0]}, expected {FORMAT_VERSION}")
    connection.execute("SELECT COUNT(*) FROM vectors").fetchone()  # a damaged file fails here


def _delete_database(location: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(str(location) + suffix).unlink(missing_ok=True)


def _sound_vector(blob: object, checksum: object, width: int) -> np.ndarray | None:
    if not isinstance(blob, bytes) or len(blob) != 4 * width or checksum != _checksum(blob):
        return None
    vector = np.frombuffer(blob, dtype="<f4").astype(np.float32)
    return vector if bool(np.isfinite(vector).all()) else None


def _checksum(blob: bytes) -> str:
    return hashlib.blake2b(blob, digest_size=8).hexdigest()


def _stamp_changed(path: str, size: int, mtime_ns: int) -> bool:
    stamp = FileStamp.of(Path(path))
    return stamp is None or (stamp.size, stamp.mtime_ns) != (size, mtime_ns)


def _marks(items: Sequence[object]) -> str:
    return ", ".join("?" * len(items))


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
