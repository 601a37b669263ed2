"""The feature store's file format: its schema, the version check that makes an older store
anew, which SQLite errors mean "not a sound store" (replace it) rather than "cannot use it
now" (turn the store off), and the checksum that ties each vector to its row's keys."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import numpy as np

FORMAT_VERSION = 2
"""2: vectors carry their maker, and their checksum covers content, space and maker."""
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, size INTEGER NOT NULL,"
    " mtime_ns INTEGER NOT NULL, content TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS files_content ON files (content)",
    "CREATE TABLE IF NOT EXISTS vectors (content TEXT NOT NULL, space TEXT NOT NULL,"
    " vector BLOB NOT NULL, checksum TEXT NOT NULL, used REAL NOT NULL,"
    " maker TEXT NOT NULL, PRIMARY KEY (content, space))",
    "CREATE INDEX IF NOT EXISTS vectors_used ON vectors (used)",
    "CREATE INDEX IF NOT EXISTS vectors_maker ON vectors (maker)",
)
REPLACEABLE = frozenset({"SQLITE_NOTADB", "SQLITE_CORRUPT"})
"""Errors that mean the file is not a sound store of ours: it is deleted and made anew.
Anything else (a folder in its place, a read-only disk, another program's lock) turns the
store off instead: deleting then would fail, or destroy what another process is using."""


class OtherFormat(sqlite3.DatabaseError):
    """A store written by another version of this module: made anew."""


def replaceable(error: sqlite3.DatabaseError, location: Path) -> bool:
    """Whether `error` says the file at `location` is not a sound store of this format."""
    named = getattr(error, "sqlite_errorname", None) in REPLACEABLE
    return (named or isinstance(error, OtherFormat)) and location.is_file()


def prepare(connection: sqlite3.Connection) -> None:
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute(SCHEMA[0])  # the format first: an older store's tables differ
    row = connection.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
    if row is not None and row[0] != str(FORMAT_VERSION):
        raise OtherFormat(f"feature store format {row[0]}, expected {FORMAT_VERSION}")
    for statement in SCHEMA[1:]:
        connection.execute(statement)
    if row is None:
        connection.execute("INSERT INTO meta VALUES ('format', ?)", (str(FORMAT_VERSION),))
    connection.execute("SELECT COUNT(*) FROM vectors").fetchone()  # a damaged file fails here


def delete_database(location: Path) -> None:
    """Delete the store's files (the database and SQLite's files beside it)."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(str(location) + suffix).unlink(missing_ok=True)


def sound_vector(content: str, space: str, maker: object, blob: object, checksum: object,
                  width: int) -> np.ndarray | None:
    if (not isinstance(blob, bytes) or not isinstance(maker, str) or len(blob) != 4 * width
            or checksum != vector_checksum(content, space, maker, blob)):
        return None
    vector = np.frombuffer(blob, dtype="<f4").astype(np.float32)
    return vector if bool(np.isfinite(vector).all()) else None


def vector_checksum(content: str, space: str, maker: str, blob: bytes) -> str:
    """Ties the floats to the row's keys: a vector moved to another photo's row fails."""
    digest = hashlib.blake2b(digest_size=8)
    digest.update(f"{content}\0{space}\0{maker}\0".encode())
    digest.update(blob)
    return digest.hexdigest()
