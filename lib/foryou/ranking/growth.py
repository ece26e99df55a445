"""Vocabulary growth: a trained ranker's embedding tables extended to ids admitted since.

``gold.vocabularies`` never renumbers: each feature day appends the ids it admits after the
kind's largest index. A model trained on an older version therefore has a row for every id it
knew, at the index that id still has, and growing it is appending rows. We grow the tables
rather than hash ids into a fixed, collision-free table as Monolith does: the indices are
already stable and unique, and the tables hold only admitted ids (``vocab_min_count``), so they
grow with the catalogue and the user base rather than with every id seen once.

A new row starts as a copy of its table's out-of-vocabulary row (index 0). Before growing, the
model scored a new id with exactly that row, so growing alone changes no score that takes the id
as a single value (user, item, creator, os, network, device); the next update then moves the
row with the id's own events. In the multi-valued inputs (tags, recent items) index 0 is
padding, so there a new id stops being dropped from the mean and starts to count.
"""
from __future__ import annotations

import dataclasses

import torch

from foryou.config.ranking import RankingConfig
from foryou.ranking.model import MultiTaskRanker
from foryou.ranking.spec import FeatureSpec


def grow(spec: FeatureSpec, state: dict[str, torch.Tensor], cfg: RankingConfig,
         sizes: dict[str, int]) -> tuple[FeatureSpec, dict[str, torch.Tensor], dict[str, tuple[int, int]]]:
    """``spec`` and ``state`` with every vocabulary kind grown to ``sizes`` (never shrunk).

    Returns the new spec, the new weights (old rows unchanged, new rows copies of row 0) and
    ``{kind: (old rows, new rows)}`` for the kinds that grew.
    """
    grown = {kind: (old, sizes[kind]) for kind, old in spec.vocab_sizes.items()
             if sizes.get(kind, 0) > old}
    if not grown:
        return spec, state, {}
    new_spec = dataclasses.replace(spec, vocab_sizes={**spec.vocab_sizes,
                                                      **{k: new for k, (_, new) in grown.items()}})
    shapes = {k: v.shape for k, v in MultiTaskRanker(new_spec, cfg).state_dict().items()}
    out = {}
    for key, value in state.items():
        want = shapes.get(key)
        if want is None or want == value.shape:
            out[key] = value
            continue
        if value.dim() != 2 or want[1:] != value.shape[1:] or want[0] < value.shape[0]:
            raise ValueError(f"cannot grow {key}: {tuple(value.shape)} -> {tuple(want)}")
        extra = value[:1].expand(want[0] - value.shape[0], -1)
        out[key] = torch.cat([value, extra.clone()], dim=0)
    return new_spec, out, grown
