"""Simulate one block of users over the whole period: profiles, sessions, requests, events.

Pure numpy; the Spark generator calls :func:`simulate_block` once per block inside
``mapInArrow``. A block's output depends only on (seed, block, config, catalogue): its random
generators are seeded from ``(seed, block, stream)``, so the world is the same whatever the
number of Spark tasks. Users of a block are simulated together, vectorised over users and live
sessions, which is what makes the generator fast enough to be linear at 10^7 events.

Time layout of a session (all epoch ms, UTC):

- the first session of a day starts at a local hour drawn from ``HOURLY_ACTIVITY`` (converted
  with the user's country offset), and never earlier than 30 minutes + 1 s after the user's
  previous session ended; later sessions start 30 min + 1 s + Exp(mean gap) after the previous
  one ended, as long as the start falls within the user's local day;
- a session is a sequence of feed requests; request ``r`` serves ``items_per_request`` items at
  positions 0..k-1 and the user watches them in order; the session ends after the item where the
  user quits (the rest of that request is never shown, so it has no impression);
- an item shown at ``t`` produces: impression (t), view (t + watch_ms, with watch_ms), skip
  (t + play), complete_view (t + duration), replay (t + duration + 1), like/save/follow (during
  the play), share/comment/hide/report/unfollow (after the play, before the next item);
- the next item starts after the watch plus a swipe gap (longer when the user commented,
  shared, hid or reported). A session's last event is therefore before its end, and sessions of
  a user are separated by more than 30 minutes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from foryou.world import dirty
from foryou.world.calibration import Calibration
from foryou.world.catalogue import DAY_MS, Catalogue, epoch_ms
from foryou.world.ids import IdFormat
from foryou.world.model import BotModel, Items, UserModel, UserModelParams, UserState
from foryou.world.params import WorldConfig
from foryou.world.policy import LoggingPolicy
from foryou.world.vocabulary import (
    APP_VERSION_WEIGHTS, BOT_APP_VERSION, COMMENTS, COUNTRY_IOS_SHARE, COUNTRY_UTC_OFFSET_H,
    COUNTRY_WEIGHTS, DEVICE_TYPES, DEVICE_WEIGHTS, EVENT_CODE, HOURLY_ACTIVITY, NETWORK_WEIGHTS,
    OPERATING_SYSTEMS, REPORT_WEIGHTS, SHARE_WEIGHTS,
)

SESSION_GAP_MS = 30 * 60_000  # sessions of a user are separated by more than this
MEAN_SESSION_GAP_MS = 150 * 60_000  # mean extra pause between two sessions of a day
MAX_SESSION_MS = 3 * 3_600_000  # a session is closed after three hours
BOT_BURSTS_PER_DAY = 3
BOT_TARGETS_PER_DAY = 3
UPLOAD_BLOCK = 0x7FFF_FFFF  # the block number of upload events (made on the driver)
# Bit of each realised label in the ``labels`` column of impression rows.
LABEL_BITS: tuple[str, ...] = (
    "click", "long_view", "complete", "like", "comment", "share", "follow", "save", "skip",
    "hide", "report", "replay", "unfollow",
)
PROBABILITY_COLUMNS: tuple[str, ...] = (
    "p_click", "p_long_view", "p_complete", "p_like", "p_comment", "p_share", "p_follow",
    "p_save", "p_skip", "p_hide", "p_report",
)

# One row per event (and per impression, with its ground truth) in Spark DDL order.
# -1 stands for "absent" in the int columns; the truth columns are NaN/-1 on non-impressions.
EVENT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("eid", "bigint"), ("etype", "tinyint"), ("user", "int"), ("ts", "bigint"),
    ("recv", "bigint"), ("item", "int"), ("creator", "int"), ("req", "bigint"),
    ("pos", "smallint"), ("watch", "bigint"), ("platform", "tinyint"), ("reason", "tinyint"),
    ("comment", "smallint"), ("device", "tinyint"), ("os", "tinyint"), ("net", "tinyint"),
    ("app", "tinyint"), ("country", "tinyint"), ("dirty", "tinyint"), ("detail", "tinyint"),
    ("session", "bigint"), ("source", "tinyint"), ("labels", "smallint"), ("duration", "int"),
    *((name, "float") for name in PROBABILITY_COLUMNS), ("exp_watch", "float"),
)
# What a raw record needs (the rest is ground truth of impressions).
RECORD_COLUMNS = EVENT_COLUMNS[: [name for name, _ in EVENT_COLUMNS].index("session")]
RECORD_DDL = ", ".join(f"`{name}` {kind}" for name, kind in RECORD_COLUMNS)
_NUMPY = {"bigint": np.int64, "int": np.int32, "smallint": np.int16, "tinyint": np.int8,
          "float": np.float32}

PROFILE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("user", "int"), ("is_bot", "boolean"), ("signup_ms", "bigint"), ("activity", "tinyint"),
    ("follow_count", "bigint"), ("follower_count", "bigint"), ("device", "tinyint"),
    ("os", "tinyint"), ("net", "tinyint"), ("app", "tinyint"), ("country", "tinyint"),
    ("propensity", "double"), ("interest", "array<double>"),
)
PROFILE_DDL = ", ".join(f"`{name}` {kind}" for name, kind in PROFILE_COLUMNS)

_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def mix64(x: np.ndarray, key: int) -> np.ndarray:
    """A bijective 64-bit scramble (splitmix64's finaliser after xor with ``key``), as int64.

    Unique inputs give unique, random-looking outputs: event, request and session ids are
    ``mix64(block << 32 | counter, key)``.
    """
    z = np.asarray(x, np.uint64) ^ np.uint64(key & 0xFFFF_FFFF_FFFF_FFFF)
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
    return (z ^ (z >> np.uint64(31))).view(np.int64)


def stream_key(seed: int, stream: int) -> int:
    """The xor key of an id stream (events, requests, sessions) for a seed."""
    return int(np.random.default_rng([seed, stream, 0x1D]).integers(0, 2**63))


@dataclass(frozen=True)
class WorldSpec:
    """Everything a task needs to simulate any block (pickled into the Spark closure)."""

    cfg: WorldConfig
    calibration: Calibration
    catalogue: Catalogue
    bots: np.ndarray  # sorted user numbers of the engagement bots
    policy: LoggingPolicy = LoggingPolicy()
    bot_model: BotModel = BotModel()

    def user_model(self) -> UserModel:
        return UserModel(self.catalogue.n_tags, self.calibration.activity_degrees,
                         UserModelParams(satiation=self.cfg.satiation))

    def id_format(self) -> IdFormat:
        """The widths of this world's string ids."""
        return IdFormat(self.cfg.n_users, self.catalogue.n_items, self.catalogue.n_creators)


def choose_bots(cfg: WorldConfig) -> np.ndarray:
    """The user numbers of the bots: ``bot_share`` of users, at least one when it is > 0."""
    if cfg.bot_share <= 0:
        return np.zeros(0, np.int64)
    n = min(cfg.n_users, max(1, int(round(cfg.n_users * cfg.bot_share))))
    return np.sort(np.random.default_rng([cfg.seed, 0xB07]).choice(cfg.n_users, n, replace=False))


@dataclass
class Profiles:
    """The users of a block: stable context, KuaiRand-drawn profile and behavioural state."""

    user: np.ndarray
    is_bot: np.ndarray
    signup_ms: np.ndarray
    follow_count: np.ndarray
    follower_count: np.ndarray
    device: np.ndarray
    os: np.ndarray
    net: np.ndarray
    app: np.ndarray
    country: np.ndarray
    state: UserState


def _choice(rng: np.random.Generator, weights, n: int) -> np.ndarray:
    w = np.asarray(weights, float)
    return np.searchsorted(np.cumsum(w / w.sum()), rng.random(n), side="right").clip(0, len(w) - 1)


def make_profiles(spec: WorldSpec, block: int, model: UserModel | None = None) -> Profiles:
    """Draw the users of ``block`` (deterministic in (seed, block); cheap, no simulation)."""
    cfg, cat = spec.cfg, spec.catalogue
    model = model or spec.user_model()
    lo = block * cfg.users_per_block
    user = np.arange(lo, min(lo + cfg.users_per_block, cfg.n_users), dtype=np.int64)
    n = len(user)
    rng = np.random.default_rng([cfg.seed, block, 1])
    is_bot = np.isin(user, spec.bots)
    real = spec.calibration.sample_users(rng, n)
    country = _choice(rng, COUNTRY_WEIGHTS, n)
    device = _choice(rng, DEVICE_WEIGHTS, n)
    desktop = device == DEVICE_TYPES.index("desktop")
    ios = rng.random(n) < np.asarray(COUNTRY_IOS_SHARE)[country]
    os_ = np.where(desktop, np.where(rng.random(n) < 0.7, 2, 3), np.where(ios, 1, 0))
    net = _choice(rng, NETWORK_WEIGHTS, n)
    app = _choice(rng, APP_VERSION_WEIGHTS, n)
    register_days = np.where(is_bot, rng.integers(0, 30, n), real["register_days"])
    signup = epoch_ms(cfg.start_date) - register_days * DAY_MS - rng.integers(1, DAY_MS, n)
    # Bots: phones on an emulator farm (android, wifi, an old build).
    os_ = np.where(is_bot, OPERATING_SYSTEMS.index("android"), os_)
    device = np.where(is_bot, DEVICE_TYPES.index("phone"), device)
    net = np.where(is_bot, 0, net)
    app = np.where(is_bot, BOT_APP_VERSION, app)
    state = model.new_users(rng, real["activity"], cat.tag_share, is_bot)
    # Initial follows among our creators: a few per hundred followed accounts, popular first.
    slots = state.follows.shape[1]
    n_follow = np.minimum(slots, np.ceil(real["follow_count"] / 25.0).astype(np.int64))
    drawn = np.searchsorted(cat.creator_cdf, rng.random((n, slots)), side="right")
    drawn = drawn.clip(0, cat.n_creators - 1).astype(np.int32)
    state.follows[:] = np.where(np.arange(slots)[None, :] < n_follow[:, None], drawn, -1)
    state.follow_next[:] = n_follow
    return Profiles(
        user=user, is_bot=is_bot, signup_ms=signup.astype(np.int64),
        follow_count=real["follow_count"], follower_count=real["fans_count"],
        device=device.astype(np.int8), os=os_.astype(np.int8), net=net.astype(np.int8),
        app=app.astype(np.int8), country=country.astype(np.int8), state=state,
    )


class _Log:
    """Appends aligned column chunks; ``concat`` gives one array per column."""

    def __init__(self) -> None:
        self.chunks: dict[str, list[np.ndarray]] = {}

    def add(self, **cols: np.ndarray) -> None:
        for name, values in cols.items():
            self.chunks.setdefault(name, []).append(np.asarray(values))

    def concat(self) -> dict[str, np.ndarray]:
        return {name: np.concatenate(parts) for name, parts in self.chunks.items()}


def _local_hours(rng: np.random.Generator, n: int) -> np.ndarray:
    """Milliseconds after local midnight, following the app's daily activity curve."""
    hour = _choice(rng, HOURLY_ACTIVITY, n)
    return hour * 3_600_000 + rng.integers(0, 3_600_000, n)


def _simulate_humans(spec: WorldSpec, prof: Profiles, model: UserModel,
                     rng: np.random.Generator, block: int, day: int, last_end: np.ndarray,
                     counters: dict[str, int], log: _Log) -> None:
    """One day of the block's human users: returns, sessions, requests, impressions."""
    cfg, cat, state = spec.cfg, spec.catalogue, prof.state
    k, n, n_tags = cfg.items_per_request, state.n, cat.n_tags
    day0 = epoch_ms(cfg.start_date) + day * DAY_MS
    local0 = day0 - (np.asarray(COUNTRY_UTC_OFFSET_H)[prof.country] * 3_600_000).astype(np.int64)
    active = ~state.is_bot & (rng.random(n) < model.return_probability(state))
    mean = model.sessions_mean(state, cfg.sessions_per_active_day)
    n_sessions = np.where(active, 1 + rng.poisson(mean - 1.0), 0)
    # Sessions start within the user's local day and after the previous session's gap. None
    # starts before the period (no event is dated before start_date in UTC): a start that
    # would is moved to a random time shortly after the period opens.
    next_start = np.maximum(local0 + _local_hours(rng, n),
                            last_end + SESSION_GAP_MS + 1_000 + rng.integers(0, 20 * 60_000, n))
    period0 = epoch_ms(cfg.start_date)
    early = next_start < period0
    delay = rng.exponential(MEAN_SESSION_GAP_MS / 2, int(early.sum()))
    next_start[early] = period0 + delay.astype(np.int64)
    day_end = local0 + DAY_MS
    sat_sum, sat_n = np.zeros(n), np.zeros(n)
    engaged_tags = np.zeros_like(state.interest)
    req_key, sess_key = counters["req_key"], counters["sess_key"]

    j = 0
    while True:
        who = np.nonzero((n_sessions > j) & (next_start < day_end))[0]
        if len(who) == 0:
            break
        sessions = model.start_sessions(rng, state, who)
        session_ids = mix64((block << 32) | (counters["session"] + np.arange(len(who))), sess_key)
        counters["session"] += len(who)
        began = next_start[who].copy()
        cursor = began.copy()
        live = np.arange(len(who))
        while len(live):
            n_live = len(live)
            users = sessions.user[live]
            items, source = spec.policy.serve(rng, cat, state.interest[users], state.follows[users],
                                              cursor[live], k)
            flat = items.ravel()
            rows = np.repeat(live, k)
            served = Items(tags=cat.tags[flat], duration_ms=cat.duration_ms[flat],
                           quality=cat.quality[flat], creator=cat.creator[flat])
            position = np.tile(np.arange(k), n_live)
            step = model.request(rng, state, sessions, rows, served, position,
                                 np.ones((n_live, k), bool))
            probs, out, quits, last, shown = step.probs, step.out, step.quits, step.last, step.shown

            talk = (out.comment | out.share | out.hide | out.report | out.unfollow).reshape(n_live, k)
            gap = (rng.lognormal(np.log(600.0), 0.5, (n_live, k))
                   + talk * rng.integers(3_000, 15_000, (n_live, k))).astype(np.int64)
            watch = out.watch_ms.reshape(n_live, k)
            spent = watch + gap
            latency = rng.integers(80, 400, n_live)
            start = cursor[live][:, None] + latency[:, None] + np.cumsum(spent, axis=1) - spent
            request_ids = mix64((block << 32) | (counters["request"] + np.arange(n_live)), req_key)
            counters["request"] += n_live

            sel = shown.ravel()
            user_rows = sessions.user[rows[sel]]
            labels = np.zeros(int(sel.sum()), np.int16)
            for bit, name in enumerate(LABEL_BITS):
                labels |= (getattr(out, name)[sel].astype(np.int16) << bit)
            log.add(
                user=user_rows, item=flat[sel], ts=start.ravel()[sel],
                req=np.repeat(request_ids, k)[sel], pos=position[sel],
                session=session_ids[rows[sel]], source=source.ravel()[sel], labels=labels,
                duration=served.duration_ms[sel], play=out.play_ms[sel], watch=out.watch_ms[sel],
                gap=gap.ravel()[sel],
                **{name: getattr(probs, name)[sel] for name in PROBABILITY_COLUMNS},
                exp_watch=probs.expected_watch_ms[sel],
            )

            sat_sum += np.bincount(user_rows, out.satisfaction[sel], minlength=n)
            sat_n += np.bincount(user_rows, minlength=n)
            liked = sel & (out.engaged | out.long_view)
            tags = served.tags[liked]
            cells = sessions.user[rows[liked]][:, None] * n_tags + tags
            engaged_tags += np.bincount(cells[tags >= 0], minlength=n * n_tags).reshape(n, n_tags)
            follow, unfollow = sel & out.follow, sel & out.unfollow
            if follow.any():
                state.follow(sessions.user[rows[follow]], served.creator[follow])
            if unfollow.any():
                state.unfollow(sessions.user[rows[unfollow]], served.creator[unfollow])

            n_shown = last + 1
            sat = np.where(shown, out.satisfaction.reshape(n_live, k), 0.0).sum(axis=1) / n_shown
            model.update_sessions(sessions, live, n_shown, sat)
            end = start[np.arange(n_live), last] + spent[np.arange(n_live), last]
            cursor[live] = end
            live = live[~quits.any(axis=1) & (end - began[live] < MAX_SESSION_MS)]
        last_end[who] = cursor
        next_start[who] = cursor + SESSION_GAP_MS + 1_000 + rng.exponential(
            MEAN_SESSION_GAP_MS, len(who)).astype(np.int64)
        j += 1

    day_sat = np.where(sat_n > 0, sat_sum / np.maximum(sat_n, 1), np.nan)
    model.end_day(rng, state, day_sat, engaged_tags)


def _bot_campaign(spec: WorldSpec, day: int) -> tuple[np.ndarray, np.ndarray]:
    """The day's targets and burst start times, the same for every block (coordination)."""
    cfg, cat = spec.cfg, spec.catalogue
    rng = np.random.default_rng([cfg.seed, day, 0xB07])
    day0 = epoch_ms(cfg.start_date) + day * DAY_MS
    targets = rng.choice(cat.n_initial, size=min(BOT_TARGETS_PER_DAY, cat.n_initial), replace=False)
    # One burst in each equal slice of the day, in its first half: bursts are hours apart.
    slot = DAY_MS // BOT_BURSTS_PER_DAY
    starts = day0 + np.arange(BOT_BURSTS_PER_DAY) * slot + rng.integers(0, slot // 2, BOT_BURSTS_PER_DAY)
    return targets.astype(np.int32), starts.astype(np.int64)


def _expand_impressions(imp: dict[str, np.ndarray], rng: np.random.Generator,
                        cat: Catalogue) -> dict[str, np.ndarray]:
    """Turn impression rows into event rows (impression, view, skip, like, ...)."""
    labels = imp["labels"]
    flag = {name: (labels >> bit) & 1 == 1 for bit, name in enumerate(LABEL_BITS)}
    m = len(labels)
    t, play, watch, dur, gap = imp["ts"], imp["play"], imp["watch"], imp["duration"], imp["gap"]
    during = lambda lo: t + (play * (lo + (1 - lo) * rng.random(m))).astype(np.int64)  # noqa: E731
    after = t + play + (gap * rng.random(m)).astype(np.int64)
    kinds = [
        ("impression", np.ones(m, bool), t),
        ("view", np.ones(m, bool), t + watch),
        ("skip", flag["skip"], t + play),
        ("complete_view", flag["complete"], t + dur),
        ("replay", flag["replay"], t + dur + 1),
        ("like", flag["like"], during(0.3)),
        ("save", flag["save"], during(0.0)),
        ("follow", flag["follow"], during(0.2)),
        ("share", flag["share"], after),
        ("comment", flag["comment"], after),
        ("hide", flag["hide"], after),
        ("report", flag["report"], after),
        ("unfollow", flag["unfollow"], after),
    ]
    src = np.concatenate([np.nonzero(mask)[0] for _, mask, _ in kinds])
    etype = np.concatenate([np.full(int(mask.sum()), EVENT_CODE[name], np.int8) for name, mask, _ in kinds])
    ts = np.concatenate([when[mask] for _, mask, when in kinds])
    is_imp = etype == EVENT_CODE["impression"]
    n = len(src)
    none = lambda dtype: np.full(n, -1, dtype)  # noqa: E731
    platform, reason, comment = none(np.int8), none(np.int8), none(np.int16)
    for name, arr, weights, size in (("share", platform, SHARE_WEIGHTS, None),
                                     ("report", reason, REPORT_WEIGHTS, None),
                                     ("comment", comment, None, len(COMMENTS))):
        rows = np.nonzero(etype == EVENT_CODE[name])[0]
        arr[rows] = (_choice(rng, weights, len(rows)) if weights is not None
                     else rng.integers(0, size, len(rows)))
    user = imp["user"][src]
    out = {
        "etype": etype, "user": user, "ts": ts, "item": imp["item"][src],
        "creator": cat.creator[imp["item"][src]], "req": imp["req"][src], "pos": imp["pos"][src],
        "watch": watch[src], "platform": platform, "reason": reason, "comment": comment,
        "session": np.where(is_imp, imp["session"][src], -1),
        "source": np.where(is_imp, imp["source"][src], -1),
        "labels": np.where(is_imp, labels[src], -1),
        "duration": np.where(is_imp, dur[src], -1),
    }
    for name in (*PROBABILITY_COLUMNS, "exp_watch"):
        out[name] = np.where(is_imp, imp[name][src], np.nan)
    return out


def _bot_events(spec: WorldSpec, rng: np.random.Generator, bots: np.ndarray) -> dict[str, np.ndarray]:
    """All days' events of the block's bots (no request, no position, no view)."""
    parts = _Log()
    for day in range(spec.cfg.days):
        targets, starts = _bot_campaign(spec, day)
        ev = spec.bot_model.burst_events(rng, len(bots), targets, starts)
        etype = np.asarray([EVENT_CODE[a] for a in spec.bot_model.actions], np.int8)[ev.action]
        parts.add(user=bots[ev.bot], item=ev.item, ts=ev.ts_ms, etype=etype)
    if not parts.chunks:
        return {}
    ev = parts.concat()
    n = len(ev["ts"])
    out = {
        "etype": ev["etype"], "user": ev["user"], "ts": ev["ts"], "item": ev["item"],
        "creator": spec.catalogue.creator[ev["item"]], "req": np.full(n, -1, np.int64),
        "pos": np.full(n, -1, np.int16), "watch": np.full(n, -1, np.int64),
        "platform": np.full(n, -1, np.int8), "reason": np.full(n, -1, np.int8),
        "comment": np.full(n, -1, np.int16), "session": np.full(n, -1, np.int64),
        "source": np.full(n, -1, np.int8), "labels": np.full(n, -1, np.int16),
        "duration": np.full(n, -1, np.int32),
    }
    for name in (*PROBABILITY_COLUMNS, "exp_watch"):
        out[name] = np.full(n, np.nan, np.float32)
    return out


def _arrival(rng: np.random.Generator, ts: np.ndarray) -> np.ndarray:
    """received_at of clean events: network latency, sometimes an offline batch upload."""
    n = len(ts)
    latency = rng.lognormal(np.log(800.0), 1.0, n)
    offline = rng.random(n) < 0.03
    latency += offline * rng.uniform(30_000, 600_000, n)
    return ts + latency.astype(np.int64)


def simulate_block(spec: WorldSpec, block: int) -> dict[str, np.ndarray]:
    """The events (with impression ground truth) of one block of users, as numpy columns.

    Args:
        spec: the world (config, calibration, catalogue, bots, policy).
        block: block number; users ``block*users_per_block`` up to the next block.
    Returns:
        One array per column of ``EVENT_COLUMNS``, aligned, dtypes as declared: the raw
        records' columns (``RECORD_COLUMNS``) and the ground truth of impressions.
    """
    columns = EVENT_COLUMNS
    cfg = spec.cfg
    model = spec.user_model()
    prof = make_profiles(spec, block, model)
    state = prof.state
    rng = np.random.default_rng([cfg.seed, block, 2])
    counters = {"session": 0, "request": 0, "req_key": stream_key(cfg.seed, 2),
                "sess_key": stream_key(cfg.seed, 3)}
    last_end = np.full(state.n, np.iinfo(np.int64).min // 4, np.int64)
    log = _Log()
    for day in range(cfg.days):
        _simulate_humans(spec, prof, model, rng, block, day, last_end, counters, log)
    parts = []
    if log.chunks:
        parts.append(_expand_impressions(log.concat(), rng, spec.catalogue))
    bot_rows = np.nonzero(prof.is_bot)[0]
    if len(bot_rows):
        parts.append(_bot_events(spec, rng, bot_rows))
    parts = [p for p in parts if p]
    if not parts:
        return {name: np.zeros(0, _NUMPY[kind]) for name, kind in columns}
    ev = {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
    n = len(ev["ts"])
    ev["eid"] = mix64((np.int64(block) << 32) | np.arange(n, dtype=np.int64), stream_key(cfg.seed, 1))
    rows = ev["user"]
    for name in ("device", "os", "net", "app", "country"):
        ev[name] = getattr(prof, name)[rows]
    ev["user"] = prof.user[rows]
    ev["recv"] = _arrival(rng, ev["ts"])

    is_view = ev["etype"] == EVENT_CODE["view"]
    kind, detail = dirty.assign(rng, n, cfg.dirty_rate, is_view, ev["pos"] >= 0, cfg.format == "json")
    ev["dirty"], ev["detail"] = kind, detail
    code = dirty.DIRTY_CODE
    bad = kind == code["bad_watch_time"]
    ev["watch"] = np.where(bad & (detail == 0), -rng.integers(1, 5_000, n),
                           np.where(bad, dirty.ABSURD_WATCH_MS + rng.integers(0, 10**9, n), ev["watch"]))
    late = kind == code["late_arrival"]
    end_of_day = (ev["ts"] // DAY_MS + 1) * DAY_MS
    ev["recv"] = np.where(late, end_of_day + rng.integers(60_000, 36 * 3_600_000, n), ev["recv"])
    # Duplicates: the original stays clean, the copy carries the kind.
    dup = np.nonzero((kind == code["exact_duplicate"]) | (kind == code["resent_duplicate"]))[0]
    if len(dup):
        for name in ev:
            orig = ev[name][dup]
            if name == "dirty":
                ev[name][dup] = 0
            ev[name] = np.concatenate([ev[name], orig])
        resent = np.nonzero(ev["dirty"][n:] == code["resent_duplicate"])[0] + n
        ev["recv"][resent] += rng.integers(1_000, 6 * 3_600_000, len(resent))
    return {name: np.ascontiguousarray(ev[name], dtype=_NUMPY[kind]) for name, kind in columns}


def _unit(ids: np.ndarray, key: int) -> np.ndarray:
    """A uniform in [0, 1) per id, fixed by (id, key): stable attributes without a generator."""
    return (mix64(ids, key).view(np.uint64) >> np.uint64(11)).astype(np.float64) / 2.0**53


def upload_events(spec: WorldSpec) -> dict[str, np.ndarray]:
    """``upload`` events of the items uploaded during the period (``RECORD_COLUMNS``).

    Small (one per new item), so the driver builds them. ``user`` is -1: the actor of an
    upload is the creator's account, rendered from ``creator``. A creator's context (os,
    network, app version, country) is stable: derived from the creator number and the seed.
    """
    cat, cfg = spec.catalogue, spec.cfg
    items = np.arange(cat.n_initial, cat.n_items)
    n = len(items)
    rng = np.random.default_rng([cfg.seed, UPLOAD_BLOCK])
    creator = cat.creator[items].astype(np.int64)
    unit = lambda i: _unit(creator, stream_key(cfg.seed, 0xC0 + i))  # noqa: E731
    pick = lambda weights, u: np.minimum(  # noqa: E731
        np.searchsorted(np.cumsum(weights) / np.sum(weights), u, side="right"), len(weights) - 1)
    ts = cat.upload_ms[items]
    cols = {name: np.full(n, -1, _NUMPY[kind]) for name, kind in RECORD_COLUMNS}
    cols.update(
        eid=mix64((np.int64(UPLOAD_BLOCK) << 32) | np.arange(n, dtype=np.int64), stream_key(cfg.seed, 1)),
        etype=np.full(n, EVENT_CODE["upload"]), ts=ts,
        recv=ts + rng.lognormal(np.log(1500.0), 1.0, n).astype(np.int64),
        item=items, creator=creator, device=np.zeros(n),
        os=np.where(unit(0) < 0.4, OPERATING_SYSTEMS.index("ios"), OPERATING_SYSTEMS.index("android")),
        net=pick(NETWORK_WEIGHTS, unit(1)), app=pick(APP_VERSION_WEIGHTS, unit(2)),
        country=pick(COUNTRY_WEIGHTS, unit(3)), dirty=np.zeros(n), detail=np.zeros(n),
    )
    return {name: np.asarray(cols[name], _NUMPY[kind]) for name, kind in RECORD_COLUMNS}


def profile_columns(spec: WorldSpec, block: int) -> dict[str, object]:
    """The block's user profiles and initial interests, as columns of ``PROFILE_COLUMNS``."""
    prof = make_profiles(spec, block)
    return {
        "user": prof.user.astype(np.int32), "is_bot": prof.is_bot, "signup_ms": prof.signup_ms,
        "activity": prof.state.activity.astype(np.int8),
        "follow_count": prof.follow_count.astype(np.int64),
        "follower_count": prof.follower_count.astype(np.int64),
        "device": prof.device, "os": prof.os, "net": prof.net, "app": prof.app,
        "country": prof.country, "propensity": prof.state.propensity,
        "interest": prof.state.interest,
    }
