"""The first line of a suspect's reasons: what to do about it, before the evidence.

A user reviewing flags wants the answer first ("probably a lion — move it to lion?") and the
why after (issue 20). The advice follows the evidence that leads the reasons: a class to
move to where one fits, quarantine where the photo is none of the classes, a look where only
the held-out head doubts it, and for a copy in the wrong folder, where the right copy is.
"""

from __future__ import annotations

from enum import Enum


class Lead(Enum):
    """Which signal leads a suspect's evidence (decides the advice's wording where no class
    is suggested)."""

    HELD_OUT = "held-out"
    OUTLIER = "outlier"
    IMAGENET = "imagenet"


def advice(given: str, given_named: bool, suggested: str | None, suggested_named: bool,
           lead: Lead, looks_like: str, copy_action: str | None) -> str:
    """One line saying what to do with a photo in `given` that is worth a look.

    `*_named`: the class name is an ImageNet category ("lion"), so it can be used as a noun
    ("a lion"); a name like `group_2` cannot. `looks_like` is the ImageNet model's first
    choice; `copy_action` the advice of the copies' verdict (`suspect_copies`), which wins:
    moving a copy into the folder that already holds the photo would only make a duplicate.
    """
    if copy_action is not None:
        return copy_action
    if suggested is not None:
        if suggested_named:
            return f"probably {article(suggested)} — move it to {suggested}?"
        return f"probably belongs in {suggested} — move it there?"
    if lead is Lead.IMAGENET:
        what = f"probably not {article(given)}" if given_named else \
            f"unlike the other photos in {given}"
        return f"{what} (looks like {article(looks_like)}) — move it to quarantine?"
    if lead is Lead.OUTLIER:
        return (f"unlike the other photos in {given} — look at it; quarantine it if it is "
                "none of the classes?")
    return f"the model doubts it belongs in {given} — look at it, then keep or move it"


def article(noun: str) -> str:
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"
