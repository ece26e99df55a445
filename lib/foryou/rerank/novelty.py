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
    """The first ``n`` of ``order`` holding at least ``ceil(share * n)`` novel items, spread evenly.

    The share is a floor on every prefix, not a quota: the list follows ``order`` except where
    the novel items so far fall behind the even schedule (one every ``1 / share`` slots, the
    last slot of each stride), where the next novel item of ``order`` is pulled forward. A
    novel item the ranker placed early keeps its place and counts towards the share; none is
    pushed back or left out for being novel. When the novel items run out, ``order`` fills
    the rest, so the list is as long as the candidates allow.

    Example:
        >>> inject([0, 1, 2, 3, 4, 5], [False, False, False, False, True, True], 4, 0.25)
        [0, 1, 2, 4]
        >>> inject([4, 0, 1, 2, 3, 5], [False, False, False, False, True, True], 4, 0.25)
        [4, 0, 1, 2]
    """
    n = min(n, len(order))
    novel_q = [i for i in order if novel[i]]
    want = min(math.ceil(share * n), len(novel_q)) if share > 0 else 0
    # Novel slot positions, evenly spread (the last slot of each stride).
    slots = {min(n - 1, math.ceil((s + 1) * n / want) - 1) for s in range(want)} if want else set()
    while len(slots) < want:  # collisions at the end of a short list
        slots.add(max(set(range(n)) - slots))
    out: list[int] = []
    taken: set[int] = set()
    due = novel_taken = ni = oi = 0  # due: novel items the schedule asks for up to pos
    for pos in range(n):
        due += pos in slots
        while ni < len(novel_q) and novel_q[ni] in taken:
            ni += 1
        if novel_taken < due and ni < len(novel_q):
            pick = novel_q[ni]
        else:
            while order[oi] in taken:
                oi += 1
            pick = order[oi]
        out.append(pick); taken.add(pick)
        novel_taken += novel[pick]
    return out
