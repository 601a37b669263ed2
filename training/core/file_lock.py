"""An exclusive OS lock on an open file, the same call on Windows and elsewhere.

The lock is advisory and held by the process: the OS drops it when the process dies, so a
crash never leaves it held. `training.records.journal` locks a file beside each journal with it.
"""

from __future__ import annotations

import os
import sys

if sys.platform == "win32":
    import errno
    import msvcrt

    def lock_file(descriptor: int) -> None:
        os.lseek(descriptor, 0, os.SEEK_SET)
        while True:
            try:
                msvcrt.locking(descriptor, msvcrt.LK_LOCK, 1)
                return
            except OSError as error:  # LK_LOCK gives up after 10 s; keep waiting
                if error.errno != errno.EDEADLOCK:
                    raise

    def unlock_file(descriptor: int) -> None:
        os.lseek(descriptor, 0, os.SEEK_SET)
        msvcrt.locking(descriptor, msvcrt.LK_UNLCK, 1)
else:
    import fcntl

    def lock_file(descriptor: int) -> None:
        fcntl.flock(descriptor, fcntl.LOCK_EX)

    def unlock_file(descriptor: int) -> None:
        fcntl.flock(descriptor, fcntl.LOCK_UN)
