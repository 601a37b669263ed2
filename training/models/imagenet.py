"""ImageNet's 1000 categories, and matching a user's class folders to them.

A folder named `lions`, `Lion` or `king_of_beasts` means ImageNet's "lion, king of beasts,
Panthera leo". When every class matches, the untouched pretrained model is already a
classifier for the dataset: that gives the tutorial's free baseline, and lets quick mode
start its head from the matching rows of ImageNet's classifier.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache

from timm.data import ImageNetInfo


@cache
def category_synonyms() -> tuple[tuple[str, ...], ...]:
    """For each of the 1000 classes, its WordNet lemmas, lower-case ("cheetah", "chetah", …)."""
    info = ImageNetInfo()
    synonyms = []
    for index in range(1000):
        lemmas = info.index_to_description(index, detailed=True).split(":", 1)[0]
        synonyms.append(tuple(_normalise(lemma) for lemma in lemmas.split(",")))
    return tuple(synonyms)


@cache
def category_names() -> tuple[str, ...]:
    """A short display name per class: its first lemma."""
    return tuple(synonyms[0] for synonyms in category_synonyms())


def _normalise(name: str) -> str:
    return re.sub(r"[\s_\-]+", " ", name.strip().lower())


def _singular_forms(name: str) -> set[str]:
    forms = {name}
    if name.endswith("ies") and len(name) > 4:
        forms.add(name[:-3] + "y")
    if name.endswith("es") and len(name) > 3:
        forms.add(name[:-2])
    if name.endswith("s") and len(name) > 2:
        forms.add(name[:-1])
    forms |= {form + "s" for form in list(forms)}
    return forms


def match_class(name: str) -> tuple[int, ...]:
    """ImageNet indices whose lemmas include `name` (case, plural and separators ignored)."""
    forms = _singular_forms(_normalise(name))
    return tuple(
        index for index, synonyms in enumerate(category_synonyms())
        if forms.intersection(synonyms)
    )


def match_classes(class_names: Sequence[str]) -> dict[str, tuple[int, ...]] | None:
    """Each class's ImageNet indices, or None unless every class matches and none overlap."""
    matches = {name: match_class(name) for name in class_names}
    if not all(matches.values()):
        return None
    seen: set[int] = set()
    for indices in matches.values():
        if seen.intersection(indices):
            return None
        seen.update(indices)
    return matches
