"""Writes this folder's KuaiRand-Pure-layout sample (run once; the CSVs are committed).

The side tables are real rows of KuaiRand-Pure (``../shared/data/kuairand_pure``: 60 users,
240 videos; Gao et al., CIKM 2022, CC BY-SA 4.0). The two logs are drawn here, in KuaiRand's
column layout, for 2022-04-29 to 2022-05-08:

* ``log_standard_4_22_to_5_08_pure.csv`` (``is_rand`` = 0): the app's policy shows each user
  mostly videos of its two favourite tags, so its outcomes are biased toward them;
* ``log_random_4_22_to_5_08_pure.csv`` (``is_rand`` = 1): videos drawn uniformly at random,
  KuaiRand's unbiased exposures.

A user plays a video of a favourite tag to the end (or long) more often; labels follow
KuaiRand's definitions (``is_click``, ``long_view``) from play and duration times.
"""
from __future__ import annotations

import csv
import datetime as dt
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
REAL = HERE.parents[2].parent / "shared" / "data" / "kuairand_pure"
USERS, VIDEOS, DAYS, SEED = 60, 240, 10, 20220508
FIRST_DAY = dt.date(2022, 4, 29)
POLICY_PER_DAY, RANDOM_PER_DAY = (4, 9), (0, 3)
LOG_HEADER = ["user_id", "video_id", "date", "hourmin", "time_ms", "is_click", "is_like",
              "is_follow", "is_comment", "is_forward", "is_hate", "long_view", "play_time_ms",
              "duration_ms", "profile_stay_time", "comment_stay_time", "is_profile_enter",
              "is_rand", "tab"]


def _rows(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        return header, list(reader)


def _outcome(rng: random.Random, fan: bool, duration: int) -> dict[str, int]:
    """Play time and labels of one impression (KuaiRand's label definitions)."""
    share = rng.uniform(0.5, 1.3) if rng.random() < (0.7 if fan else 0.25) else rng.uniform(0.0, 0.2)
    play = int(duration * share)
    click = play >= duration if duration <= 7000 else play > 7000
    long_view = play >= duration if duration <= 18000 else play >= 18000
    engaged = click and rng.random() < (0.3 if fan else 0.05)
    return {"is_click": int(click), "long_view": int(long_view), "play_time_ms": play,
            "is_like": int(engaged), "is_follow": int(engaged and rng.random() < 0.2),
            "is_comment": int(engaged and rng.random() < 0.2),
            "is_forward": int(engaged and rng.random() < 0.1),
            "is_hate": int(not click and rng.random() < 0.01)}


def main() -> None:
    rng = random.Random(SEED)
    user_header, users = _rows(REAL / "user_features_pure.csv")
    video_header, videos = _rows(REAL / "video_features_basic_pure.csv")
    users = rng.sample(users, USERS)
    videos = rng.sample([v for v in videos if v[11] and float(v[6] or 0) > 0], VIDEOS)
    tag_of = {v[0]: v[11].split(",")[0] for v in videos}
    tags = sorted(set(tag_of.values()), key=lambda t: -sum(x == t for x in tag_of.values()))
    favourites = {u[0]: set(rng.sample(tags[:8], 2)) for u in users}
    by_tag: dict[str, list[list[str]]] = {}
    for v in videos:
        by_tag.setdefault(tag_of[v[0]], []).append(v)

    logs: dict[int, list[list]] = {0: [], 1: []}
    for day in range(DAYS):
        date = FIRST_DAY + dt.timedelta(days=day)
        for u in users:
            for is_rand, (lo, hi) in ((0, POLICY_PER_DAY), (1, RANDOM_PER_DAY)):
                for _ in range(rng.randint(lo, hi)):
                    if is_rand or rng.random() < 0.3:
                        v = rng.choice(videos)
                    else:
                        v = rng.choice(by_tag[rng.choice(sorted(favourites[u[0]]))])
                    hour, minute = rng.randint(8, 23), rng.choice((0, 30))
                    ts = dt.datetime.combine(date, dt.time(hour, minute, rng.randint(0, 59)),
                                             dt.timezone.utc)
                    duration = int(float(v[6]))
                    o = _outcome(rng, tag_of[v[0]] in favourites[u[0]], duration)
                    row = {"user_id": u[0], "video_id": v[0], "date": date.strftime("%Y%m%d"),
                           "hourmin": hour * 100 + minute, "time_ms": int(ts.timestamp() * 1000),
                           "duration_ms": duration, "profile_stay_time": 0,
                           "comment_stay_time": 0, "is_profile_enter": 0, "is_rand": is_rand,
                           "tab": rng.choice((0, 1, 4)), **o}
                    logs[is_rand].append([row[c] for c in LOG_HEADER])
    for is_rand, name in ((0, "log_standard_4_22_to_5_08_pure.csv"),
                          (1, "log_random_4_22_to_5_08_pure.csv")):
        with (HERE / name).open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(LOG_HEADER)
            writer.writerows(sorted(logs[is_rand], key=lambda r: (r[4], int(r[0]))))
    for name, header, rows in (("user_features_pure.csv", user_header, users),
                               ("video_features_basic_pure.csv", video_header, videos)):
        with (HERE / name).open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            writer.writerows(sorted(rows, key=lambda r: int(r[0])))


if __name__ == "__main__":
    main()
