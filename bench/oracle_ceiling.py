"""How much of the oracle's AUC any ranker could reach, and which latent factor carries it.

    python bench/oracle_ceiling.py [--size large] [--blocks 6] [--requests 8] [--draws 24]

The oracle scores each impression with the generator's true probability, which depends on the
session's mood and per-tag mood: draws no feature store can see, because they are made when the
session opens. Any model is bounded by the *pre-session* probability, the true probability
averaged over those draws (Monte Carlo, ``--draws`` fresh sessions per impression). On the
world's users (the first ``--blocks`` blocks) and the logging policy's requests, this prints

- the AUC of the oracle and of the pre-session probability, and its share of the oracle's lift
  ``(AUC - 0.5) / (AUC_oracle - 0.5)``: the ceiling of the issue's normalised-AUC target;
- the same share with one latent factor removed from the pre-session probability (the user's
  tag interest, the item's quality, the user's propensity, the video's duration, follows):
  what each factor is worth, so which features the ranker needs most.

Labels are drawn from the full probabilities, as the world does.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from common import save  # noqa: E402
from foryou.ranking.metrics import auc  # noqa: E402
from foryou.world import preset  # noqa: E402
from foryou.world.generate import build_spec  # noqa: E402
from foryou.world.model import Items  # noqa: E402
from foryou.world.simulate import make_profiles  # noqa: E402

TASKS = ("click", "long_view", "complete", "like")
ABLATIONS = ("interest", "quality", "propensity", "duration", "follows")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="large", help="world preset (large: the 10M-event world)")
    parser.add_argument("--blocks", type=int, default=6, help="user blocks simulated")
    parser.add_argument("--requests", type=int, default=8, help="feed requests per user")
    parser.add_argument("--draws", type=int, default=24, help="sessions averaged per impression")
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args(argv)
    cfg = preset(args.size)
    spec = build_spec(cfg)
    cat, model = spec.catalogue, spec.user_model()
    rng = np.random.default_rng(args.seed)
    k = cfg.items_per_request
    scores: dict[str, list[np.ndarray]] = {}
    labels: dict[str, list[np.ndarray]] = {t: [] for t in TASKS}

    def keep(name: str, by_task: dict[str, np.ndarray]) -> None:
        for t in TASKS:
            scores.setdefault(f"{name}:{t}", []).append(by_task[t])

    for block in range(min(cfg.n_blocks, args.blocks)):
        state = make_profiles(spec, block, model).state
        who = np.nonzero(~state.is_bot)[0]
        rows = np.repeat(np.arange(len(who)), k)
        for _ in range(args.requests):
            now = np.full(len(who), int(cat.upload_ms.max()))
            items, _ = spec.policy.serve(rng, cat, state.interest[who], state.follows[who], now, k)
            flat = items.ravel()
            served = Items(tags=cat.tags[flat], duration_ms=cat.duration_ms[flat],
                           quality=cat.quality[flat], creator=cat.creator[flat])
            full = model.probabilities(state, model.start_sessions(rng, state, who), rows, served)
            outcome = model.sample(rng, full, served)
            keep("oracle", {t: getattr(full, f"p_{t}") for t in TASKS})
            for t in TASKS:
                labels[t].append(getattr(outcome, t))
            for name, altered, items_of in _variants(state, served, cat.n_tags):
                mean = {t: np.zeros(len(flat)) for t in TASKS}
                for _ in range(args.draws):
                    probs = model.probabilities(altered, model.start_sessions(rng, altered, who),
                                                rows, items_of)
                    for t in TASKS:
                        mean[t] += getattr(probs, f"p_{t}") / args.draws
                keep(name, mean)

    result: dict = {"size": args.size, "blocks": args.blocks, "requests": args.requests,
                    "draws": args.draws, "impressions": int(sum(map(len, labels["click"])))}
    print(f"{result['impressions']:,} impressions of the {args.size} world")
    print(f"{'':26s}" + "".join(f"{t:>12s}" for t in TASKS))
    oracle = {t: auc(np.concatenate(labels[t]).astype(float), np.concatenate(scores[f"oracle:{t}"]))
              for t in TASKS}
    print(f"{'oracle AUC':26s}" + "".join(f"{oracle[t]:12.4f}" for t in TASKS))
    for name in ("pre_session", *[f"without_{a}" for a in ABLATIONS]):
        shares = {}
        for t in TASKS:
            a = auc(np.concatenate(labels[t]).astype(float), np.concatenate(scores[f"{name}:{t}"]))
            shares[t] = (a - 0.5) / (oracle[t] - 0.5)
            result[f"{name}_auc_{t}"] = round(a, 4)
            result[f"{name}_share_{t}"] = round(shares[t], 4)
        print(f"{name + ' share':26s}" + "".join(f"{shares[t]:12.3f}" for t in TASKS))
    result.update({f"oracle_auc_{t}": round(v, 4) for t, v in oracle.items()})
    save("oracle_ceiling", result)
    return 0


def _variants(state, served: Items, n_tags: int):
    """The pre-session state and items, and each with one latent factor made uninformative."""
    yield "pre_session", state, served
    yield "without_interest", dataclasses.replace(
        state, interest=np.full_like(state.interest, 1.0 / n_tags)), served
    yield "without_quality", state, dataclasses.replace(served, quality=np.zeros(len(served.quality)))
    yield "without_propensity", dataclasses.replace(
        state, propensity=np.zeros_like(state.propensity)), served
    yield "without_duration", state, dataclasses.replace(
        served, duration_ms=np.full(len(served.duration_ms), float(np.median(served.duration_ms))))
    yield "without_follows", dataclasses.replace(
        state, follows=np.full_like(state.follows, -1)), served


if __name__ == "__main__":
    raise SystemExit(main())
