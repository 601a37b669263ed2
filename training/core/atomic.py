"""Write a file so that readers see either the old content or the new, never half of it.

The new content goes to a hidden temporary file beside the target (`.NAME.PID.TOKEN.tmp…`,
with NAME cut short where the whole would pass the file system's 255-byte limit),
is flushed (and fsynced), then renamed over the target. The temporary file is created with
mode 0666 less the umask, like any file a program writes, so models and CSVs are readable
by whoever the user's umask allows (not 0600 as `tempfile.mkstemp` would make them).

A process killed mid-write leaves its temporary file behind; the next write to the same
target removes such leftovers of ours: those whose writing process is gone, or that are
older than an hour (no write takes that long).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

from training.core.paths import NAME_MAX_BYTES, shortened

STALE_SECONDS = 3600.0
_TEMPORARY_SUFFIX = ".tmp"
_TEMPORARY_EXTRA = 48
"""Bytes a temporary name adds to the target's: two dots, a process id, a token, ".tmp" and
room for a kept suffix."""


def write_atomically(target: Path, payload: bytes, durable: bool = True) -> None:
    """Temp file in the same folder, fsync, rename: readers see the old file or the new one.

    `durable=False` skips the fsync (tens of milliseconds on some disks): still never half a
    file, but a power cut may bring back the previous version. Fine for settings.
    An `OSError` (a full disk, a read-only folder) leaves the target as it was and no
    temporary file behind.
    """
    target = Path(target)
    with temporary_beside(target) as temporary:
        with temporary.open("wb") as handle:
            handle.write(payload)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.replace(temporary, target)


@contextlib.contextmanager
def temporary_beside(target: Path, keep_suffix: bool = False) -> Iterator[Path]:
    """A new, empty hidden file beside `target` (same disk, so renaming it over `target` is
    atomic), removed on the way out unless it was renamed. `keep_suffix` ends its name with
    the target's suffix, for writers that insist on one (`torch.export` wants `.pt2`)."""
    target = Path(target)
    remove_stale_temporaries(target)
    name = f"{_prefix(target)}{os.getpid()}.{secrets.token_hex(4)}{_TEMPORARY_SUFFIX}"
    temporary = target.with_name(name + (target.suffix if keep_suffix else ""))
    os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield temporary
    finally:
        temporary.unlink(missing_ok=True)


def remove_stale_temporaries(target: Path) -> list[Path]:
    """Delete temporary files a killed writer of `target` left; return what was removed.
    A path no file can have (a NUL in it, from a damaged record) has none."""
    removed: list[Path] = []
    for path in stale_temporaries(target):
        try:
            path.unlink()
            removed.append(path)
        except OSError:
            continue
    return removed


def stale_temporaries(target: Path) -> list[Path]:
    """The temporary files of `target` whose writer is gone (or that are over an hour old)."""
    prefix = _prefix(target)
    found: list[Path] = []
    try:
        entries = list(os.scandir(target.parent))
    except (OSError, ValueError):
        return found
    now = time.time()
    for entry in entries:
        name = entry.name
        if not (name.startswith(prefix) and _TEMPORARY_SUFFIX in name[len(prefix):]):
            continue
        writer = name[len(prefix):].split(".", 1)[0]
        try:
            old = now - entry.stat(follow_symlinks=False).st_mtime > STALE_SECONDS
            if not entry.is_file(follow_symlinks=False):
                continue
            if old or (writer.isdigit() and not _process_alive(int(writer))):
                found.append(Path(entry.path))
        except OSError:
            continue
    return found


def _prefix(target: Path) -> str:
    """`.NAME.`, NAME cut (at a character boundary) so that a temporary name fits the limit:
    a 244-byte photo name must still be copyable."""
    return f".{shortened(target.name, NAME_MAX_BYTES - _TEMPORARY_EXTRA)}."


def _process_alive(pid: int) -> bool:
    """Whether process `pid` runs on this machine (assumed so where that cannot be asked)."""
    if pid == os.getpid():
        return True
    if os.name == "nt":  # os.kill(pid, 0) would terminate it on Windows; age decides there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, but belongs to someone else
        return True
    return True
