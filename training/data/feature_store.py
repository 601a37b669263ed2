"""Features computed once per photo, kept on disk: what makes the second look at a folder cheap.

Finding likely-mislabelled photos, quick training, the zero-shot baseline, evaluation and
classification all run the same frozen network over the same photos. Each photo's pooled
features are stored here the first time, keyed by

- the photo's content: the hash of the bytes read from the file at every look-up
  (`training.models.embedding` hashes them as it reads them). Path, size and mtime prove
  nothing: `cp -p`, `rsync -t`, editors and backup restores rewrite a photo and keep its
  time (a cheetah padded to a lion's size kept the lion's vector). The `files` table (path →
  content, with that stamp) is bookkeeping for `prune`, never a way to a vector. A renamed
  or copied photo is still found by its bytes;
- the "space" it was embedded in: the network's weights digest, the preprocessing and the
  view (`training.models.embedding.space_key`), so different networks, image sizes or
  augmented views never mix.

Each vector names its maker ("pytorch", or the ONNX graph's digest), so what a graph wrote
goes when the graph is refused later (`forget_maker`). Its checksum covers its content key,
space and maker as well as its floats: a row swapped or edited in a sound database, of the
wrong length or not finite is deleted and recomputed, never trusted.

One SQLite file under `paths.cache_dir() / "features"`: transactions make writes atomic, WAL
lets the app and the CLI share it; it is bounded (`DEFAULT_BUDGET_BYTES`, least recently used
out) and forgets files that no longer exist (`prune`).

The store is a cache: when it cannot be opened or written (a damaged file is replaced; a
full or read-only disk, or a folder in its place, disables it), callers carry on computing,
just without keeping. A full disk passes silently (it keeps again once there is room);
anything else is logged once as a warning naming the file and what to do.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training.core import paths as app_paths
from training.data.feature_store_format import (
    delete_database,
    prepare,
    replaceable,
    sound_vector,
    vector_checksum,
)

BUDGET_ENV = "CHEETAHLION_FEATURE_STORE_BYTES"
DEFAULT_BUDGET_BYTES = 2 * 2**30
"""About 400,000 photos' EfficientNet-Lite0 features; the least recently used go first."""
PRUNE_EVERY_SECONDS = 600.0
"""How often opening the store looks for files that no longer exist."""
USED_REFRESH_SECONDS = 3600.0
"""A vector read is marked as used (for least-recently-used trimming) only when its mark is
older than this. Updating the mark rewrites the whole row, blob included: reading 10,000
stored vectors wrote 41 MB into the write-ahead log every time, and on a busy disk one such
read took 14 s instead of 1 s. An hour is nothing against a store of months of photos."""
_FILE_NAME = "features.sqlite3"
log = logging.getLogger(__name__)
_CHUNK = 500
"""Rows per SQL statement: SQLite allows at most 32,766 parameters in one."""


@dataclass(frozen=True)
class FileStamp:
    """Path, size, mtime: how `prune` tells files gone or changed. Never proof of content."""

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
        self.problem: str | None = None
        """Why the store is off, when that is something to fix (logged once)."""
        self._open()

    def content_keys(self, stamps: Sequence[FileStamp]) -> dict[str, str]:
        """Path → content key recorded for the files whose stamp matches the record.

        Bookkeeping only: a rewritten file can keep its stamp, so this is never a way to a
        vector (`vectors` takes the hash of the bytes just read)."""
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
        """Record each file's stamp and content key; unchanged rows are not written."""
        wanted = {stamp.path: (stamp, key) for stamp, key in keys}
        recorded = self.content_keys([stamp for stamp, _ in wanted.values()])
        rows = [(stamp.path, stamp.size, stamp.mtime_ns, key)
                for path, (stamp, key) in wanted.items() if recorded.get(path) != key]
        self._write("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?)", rows)

    def vectors(self, space: str, contents: Sequence[str], width: int, touch: bool = True
                ) -> dict[str, np.ndarray]:
        """Content key → float32 vector of `width`, for the sound vectors stored in `space`.

        A damaged vector (wrong length, failed checksum, not finite) is deleted, so the
        caller computes and stores it again. `touch=False` leaves the least-recently-used
        marks alone (the caller `touch`es a whole batch at once).
        """
        found: dict[str, np.ndarray] = {}
        damaged: list[tuple[str, str]] = []
        for chunk in _chunks(sorted(set(contents)), _CHUNK):
            rows = self._query(
                f"SELECT content, vector, checksum, maker FROM vectors WHERE space = ? AND "
                f"content IN ({_marks(chunk)})", [space, *chunk])
            for content, blob, checksum, maker in rows:
                vector = sound_vector(content, space, maker, blob, checksum, width)
                if vector is None:
                    damaged.append((content, space))
                else:
                    found[content] = vector
        if damaged:
            self._write("DELETE FROM vectors WHERE content = ? AND space = ?", damaged)
        if touch:
            self.touch(space, list(found))
        return found

    def touch(self, space: str, contents: Sequence[str]) -> None:
        """Mark these vectors as used now, those whose mark is stale only: updating a mark
        rewrites the whole row, blob included, and takes the write lock."""
        now = time.time()
        stale: list[tuple[float, str, str]] = []
        for chunk in _chunks(sorted(set(contents)), _CHUNK):
            rows = self._query(
                f"SELECT content FROM vectors WHERE space = ? AND used < ? AND content IN "
                f"({_marks(chunk)})", [space, now - USED_REFRESH_SECONDS, *chunk])
            stale += [(now, content, space) for (content,) in rows]
        self._write("UPDATE vectors SET used = ? WHERE content = ? AND space = ?", stale)

    def store_vectors(self, space: str, vectors: dict[str, np.ndarray], maker: str) -> None:
        """Keep each content key's vector in `space`, made by `maker` ("pytorch" or a
        graph's digest), then trim the store to its budget."""
        now = time.time()
        rows = []
        for content, vector in vectors.items():
            blob = np.ascontiguousarray(vector, dtype="<f4").tobytes()
            rows.append((content, space, blob, vector_checksum(content, space, maker, blob), now,
                         maker))
        self._write("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?, ?, ?, ?)", rows)
        if not rows:
            return
        if self._bytes is None:
            self._bytes = self.stored_bytes()
        else:  # an upper bound: a replaced row is counted twice until the next exact count
            self._bytes += sum(len(row[2]) for row in rows)
        if self._bytes > self.budget:
            self._trim()
            self._bytes = self.stored_bytes()

    def forget_maker(self, maker: str) -> int:
        """Delete every vector `maker` computed (a graph refused after it wrote them);
        returns how many went."""
        rows = self._query("SELECT COUNT(*) FROM vectors WHERE maker = ?", [maker])
        count = int(rows[0][0]) if rows else 0
        if count:
            self._write("DELETE FROM vectors WHERE maker = ?", [(maker,)])
            self._bytes = None
        return count

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
        """Open (or create) the file; one that is not a sound store of this format is
        deleted and made anew; anything else that stops it turns the store off, and a file
        made here that could not become a store is removed (a full disk left 0 bytes)."""
        made_here = not self.location.exists()
        for attempt in range(2):
            connection = None
            try:
                self.location.parent.mkdir(parents=True, exist_ok=True)
                connection = sqlite3.connect(self.location, timeout=30.0,
                                             check_same_thread=False, isolation_level=None)
                prepare(connection)
                self._connection = connection
                break
            except sqlite3.DatabaseError as error:
                if connection is not None:
                    connection.close()
                if attempt == 1 or not replaceable(error, self.location):
                    self._disable(error)
                    break
                try:
                    delete_database(self.location)
                except OSError as cannot:
                    self._disable(cannot)
                    break
            except OSError as error:
                self._disable(error)
                break
        if not self.available:
            if made_here:
                with contextlib.suppress(OSError):
                    delete_database(self.location)
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
            except sqlite3.Error as error:
                self._fail(error)
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
            except sqlite3.Error as error:
                self._fail(error)

    def _fail(self, error: BaseException) -> None:
        """Stop using the store for this session: a cache must never break the work."""
        self._disable(error)
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _disable(self, error: BaseException) -> None:
        """Keep nothing from now on; say so once, unless the disk is only full."""
        self.available = False
        full = (getattr(error, "errno", 0) == errno.ENOSPC
                or getattr(error, "sqlite_errorname", None) == "SQLITE_FULL")
        if self.problem is not None or full:
            return
        where, unkept = self.location, "so features are computed but not kept"
        reason = (error.strerror if isinstance(error, OSError) else None) or error
        self.problem = (
            f"the feature store {where} is a folder, not a file, {unkept}: move the folder "
            "away and a new store is made there." if where.is_dir() else
            f"the feature store {where} cannot be used ({reason}), {unkept}: make "
            f"{where.parent} writable, or set CHEETAHLION_HOME to a folder you can write.")
        log.warning("warning: %s", self.problem)


def _stamp_changed(path: str, size: int, mtime_ns: int) -> bool:
    stamp = FileStamp.of(Path(path))
    return stamp is None or (stamp.size, stamp.mtime_ns) != (size, mtime_ns)


def _marks(items: Sequence[object]) -> str:
    return ", ".join("?" * len(items))


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
