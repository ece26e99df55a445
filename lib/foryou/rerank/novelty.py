"""Novelty injection: a share of every feed comes from outside the user's known interests.

An item is *novel* for a user when none of its tags is among the user's known interests (its
strongest long-term interest tags). A user without history knows no interests, so every item
is novel to it and the share holds trivially.
"""
from __future__ import annotations

import math
from typing import Iterable, Sequence


def is_novel(item_tags: Iterable[str] | None, interests: set[str]) -> bool:
    """True when the item carries none of the user's interest tags (no tags: novel)."""
    return not interests or not any(t in interests for t in (item_tags or ()))


def inject(order: Sequence[int], novel: Sequence[bool], n: int, share: float) -> list[int]:
    """The first ``n`` of ``order`` with ``ceil(share * n)`` novel items, spread evenly.

    Novel and familiar items each keep their relative order from ``order``; novel items take
    every ``1 / share``-th slot. When one kind runs short the other fills the rest, so the
    list is as long as the candidates allow.

    Example:
        >>> inject([0, 1, 2, 3, 4, 5], [False, False, False, False, True, True], 4, 0.25)
        [0, 1, 2, 4]
    """
    n = min(n, len(order))
    novel_q = [i for i in order if novel[i]]
    familiar_q = [i for i in order if not novel[i]]
    want = min(math.ceil(share * n), len(novel_q)) if share > 0 else 0
    # Novel slot positions, evenly spread (the last slot of each stride).
    slots = {min(n - 1, math.ceil((s + 1) * n / want) - 1) for s in range(want)} if want else set()
    while len(slots) < want:  # collisions at the end of a short list
        slots.add(max(set(range(n)) - slots))
    out: list[int] = []
    ni = fi = 0
    for pos in range(n):
        if pos in slots and ni < len(novel_q):
            out.append(novel_q[ni]); ni += 1
        elif fi < len(familiar_q):
            out.append(familiar_q[fi]); fi += 1
        else:
            out.append(novel_q[ni]); ni += 1
    return out
