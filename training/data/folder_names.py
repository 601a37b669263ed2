"""Whether a name a person typed can become a folder: a class, or a label.

A class name and a label each become one folder (the class-folders layout, `add`,
`--sort-into`), so one rule serves both: not a path, not hidden (the scanner skips hidden
folders), not a split folder's name (a class "train" beside "val" would turn the layout into
a split), no invisible characters, and valid on every system the dataset may go to.
"""

from __future__ import annotations

import unicodedata

from training.core.paths import NAME_MAX_BYTES, name_bytes
from training.data.scanning import SPLIT_FOLDERS

MAX_NAME = 64
"""Characters, and at most `NAME_MAX_BYTES` bytes in UTF-8 (64 emoji are 256)."""
_NOT_IN_NAMES = frozenset('/\\<>:"|?*')
"""Path separators, and the characters Windows refuses in names (a dataset travels)."""
_WINDOWS_DEVICES = frozenset({"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)),
                              *(f"lpt{i}" for i in range(1, 10))})


def folder_name_problem(name: str, noun: str) -> str | None:
    """Why `name` cannot be a folder's name, in words starting "A <noun> …"; None when it
    can. `noun`: "class name" or "label"."""
    if name != name.strip():
        return f"A {noun} cannot start or end with a space."
    if len(name) > MAX_NAME:
        return f"A {noun} can have at most {MAX_NAME} characters."
    if name_bytes(name) > NAME_MAX_BYTES:
        return (f"A {noun} can be at most {NAME_MAX_BYTES} bytes long in UTF-8, the longest "
                f"folder name disks take; this one is {name_bytes(name)} (an emoji takes 4 "
                "bytes).")
    hidden = deceptive_character(name)
    if hidden:
        return (f"A {noun} cannot hold invisible or direction-changing characters ({hidden} "
                "here): it looks like another name. Type it again.")
    if any(c in _NOT_IN_NAMES or ord(c) < 32 or c == "\x7f" for c in name):
        return f"A {noun} cannot contain / \\ < > : \" | ? * or control characters."
    if name.startswith("."):
        return f"A {noun} cannot start with a dot: the folder would be hidden."
    if name.endswith("."):
        return f"A {noun} cannot end with a dot (Windows drops it)."
    if name.split(".")[0].lower() in _WINDOWS_DEVICES:
        return f"'{name}' is a device name on Windows; choose another name."
    if name.lower() in SPLIT_FOLDERS:
        return f"'{name}' is the name of a split folder (train/val/test); choose another name."
    return None


def deceptive_character(name: str) -> str | None:
    """The first invisible or direction-changing character of `name` as "U+XXXX", or None.

    Unicode's format characters (category Cf) do not show, or reorder what follows:
    "lion\u202egnp.exe" shows as "lionexe.png", "li\u200bon" as "lion". A zero-width joiner
    between two emoji (a family emoji) is allowed; between letters it is not.
    """
    for index, char in enumerate(name):
        if unicodedata.category(char) != "Cf":
            continue
        around = name[index - 1:index] + name[index + 1:index + 2]
        if char == "\u200d" and len(around) == 2 and not any(c.isalnum() for c in around):
            continue
        return f"U+{ord(char):04X}"
    return None
