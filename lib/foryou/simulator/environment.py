"""The feed simulator's environment: the world's users and items, and one simulated day.

The behaviour is the world's own user model (:class:`foryou.world.model.UserModel`): the same
hook, watch, skip, engagement, session-continuation and next-day-return equations that
generated the logs, so a policy is scored by the people it would serve, not by a proxy.

- **Users**: the human users of the world, regenerated deterministically from the world's
  config (:func:`foryou.world.simulate.make_profiles`: activity degree, propensity, long-term
  interests over tags, followed creators), as at the start of the period; interests drift
  back towards these (the drift is mean-reverting). ``truth/users`` of the generated world is
  read to check that the config is the one that made it.
- **Items**: the world's catalogue (tags, duration, latent quality, creator), rebuilt from the
  same config; ``content_id`` strings are the world's (``v`` + zero-padded number).
- **A day**: each user opens ``1 + Poisson(sessions_mean - 1)`` sessions (the world's rate for
  the user's activity degree) and is served their feed in rank order, ``items_per_request``
  items per request, continuing where the previous session stopped. After each item the
  session goes on with the model's continuation probability; it also ends when the feed runs
  out. The day's mean item satisfaction sets tomorrow's return probability
  (``UserModel.return_probability``). A user without a feed opens no session and returns at the
  base rate of their activity degree.

Everything is vectorised over users and live sessions in numpy; random draws come from one
generator seeded by ``seed``, so a run is deterministic and two policies run with the same seed
share their users' moods and session counts (common random numbers: differences between
policies are less noisy).
"""
from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from foryou.lake.vocabulary import CONTENT_ID, USER_ID
from foryou.rerank.session import LABEL_EVENTS, Session, SessionModel, rerank
from foryou.world.catalogue import Catalogue
from foryou.world.ids import format_ids, id_width
from foryou.world.model import Items, SessionState, UserModel, UserState
from foryou.world.params import WorldConfig
from foryou.world.simulate import WorldSpec, make_profiles

RANK = "rank"
FEED_COLUMNS = (USER_ID, RANK, CONTENT_ID)
LOG_COLUMNS = ("row", "item", "click", "negative")


def raw_user_ids(numbers: np.ndarray, n_users: int) -> np.ndarray:
    """The world's raw user ids (``u000123``) of user numbers (``foryou.world.ids``)."""
    ids = format_ids("user", np.asarray(numbers), id_width("user", n_users))
    return ids.to_numpy(zero_copy_only=False)


def content_ids(n_items: int) -> np.ndarray:
    """The world's content ids (``v0004567``) of items ``0..n_items-1`` (``foryou.world.ids``)."""
    ids = format_ids("item", np.arange(n_items), id_width("item", n_items))
    return ids.to_numpy(zero_copy_only=False)


@dataclass(frozen=True)
class SimWorld:
    """The simulated population and catalogue.

    Attributes:
        cfg: the world's config.
        spec: the world's driver-side parts (catalogue, calibration, bots).
        model: the user model.
        users: world user numbers of the simulated users (humans only).
        user_ids: their raw ids (truth side) and ``pseudonyms`` (silver / feed side).
        state: their profiles (``UserState`` rows aligned with ``users``); never mutated.
        content_ids: content id of each item index.
    """

    cfg: WorldConfig
    spec: WorldSpec
    model: UserModel
    users: np.ndarray
    user_ids: np.ndarray
    pseudonyms: np.ndarray
    state: UserState
    content_ids: np.ndarray

    @property
    def catalogue(self) -> Catalogue:
        return self.spec.catalogue

    @property
    def n(self) -> int:
        return len(self.users)

    def with_satiation(self, strength: float) -> "SimWorld":
        """The same users and items, tiring of topics at ``strength``
        (:class:`foryou.world.model.UserModelParams`'s ``satiation``; 0: never)."""
        m = self.model
        params = dataclasses.replace(m.params, satiation=float(strength))
        return dataclasses.replace(self, model=UserModel(m.n_tags, m.activity_degrees, params,
                                                         m.follow_slots))

    def items(self, index: np.ndarray) -> Items:
        """The model's view of catalogue items ``index``."""
        cat = self.catalogue
        return Items(tags=cat.tags[index], duration_ms=cat.duration_ms[index],
                     quality=cat.quality[index], creator=cat.creator[index])


def _check_truth(world: SimWorld, truth_dir: str | Path) -> None:
    """Refuse a config that is not the one that generated ``truth_dir`` (interests differ)."""
    import pyarrow.dataset as ds

    path = Path(truth_dir) / "users"
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: truth_dir must be a world's truth folder")
    probe = world.user_ids[: min(32, world.n)].tolist()
    table = ds.dataset(str(path), format="parquet").to_table(
        columns=[USER_ID, "interest"], filter=ds.field(USER_ID).isin(probe)).to_pandas()
    if len(table) != len(probe):
        raise ValueError(f"truth_dir {truth_dir} lacks users of this world config "
                         f"(found {len(table)} of {len(probe)}): n_users or seed differ")
    got = dict(zip(table[USER_ID], table["interest"]))
    for row, uid in enumerate(probe):
        if not np.allclose(np.asarray(got[uid], float), world.state.interest[row], atol=1e-9):
            raise ValueError(f"user {uid}: truth interests differ from the regenerated ones; "
                             f"world_cfg is not the config that generated {truth_dir}")


def load_world(world_cfg: WorldConfig, truth_dir: str | Path | None, n_users: int | None = None,
               seed: int = 0, pseudonym_key: bytes | None = None) -> SimWorld:
    """Rebuild the world's population and catalogue for simulation.

    Args:
        world_cfg: the config that generated the world.
        truth_dir: the world's ``truth`` folder (checked against the config); None skips it.
        n_users: simulate this many human users, taken from a seeded random order of the
            world's user blocks (only those blocks are regenerated); None: all of them.
        seed: chooses the users when ``n_users`` is set.
        pseudonym_key: key of the silver pseudonyms (default: ``FORYOU_PSEUDONYM_KEY`` or the
            demo key, as the pipeline's ``load_key``).
    """
    from foryou.privacy.pseudonyms import load_key, pseudonymise
    from foryou.world.generate import build_spec

    spec = build_spec(world_cfg)
    model = spec.user_model()
    blocks = np.arange(world_cfg.n_blocks)
    if n_users is not None:
        if n_users < 1:
            raise ValueError(f"n_users={n_users}: must be at least 1")
        blocks = np.random.default_rng([seed, 0x5E1]).permutation(blocks)
    numbers, states, have = [], [], 0
    for block in blocks.tolist():
        prof = make_profiles(spec, block, model)
        human = np.nonzero(~prof.is_bot)[0]
        numbers.append(prof.user[human])
        states.append(prof.state.take(human))
        have += len(human)
        if n_users is not None and have >= n_users:
            break
    users = np.concatenate(numbers)
    state = UserState.concat(states)
    if n_users is not None and len(users) > n_users:
        users, state = users[:n_users], state.take(np.arange(n_users))
    if len(users) == 0:
        raise ValueError("the world has no human users to simulate")
    key = pseudonym_key if pseudonym_key is not None else load_key().value
    raw = raw_user_ids(users, world_cfg.n_users)
    world = SimWorld(cfg=world_cfg, spec=spec, model=model, users=users, user_ids=raw,
                     pseudonyms=np.array([pseudonymise(u, key) for u in raw], dtype=object),
                     state=state, content_ids=content_ids(spec.catalogue.n_items))
    if truth_dir is not None:
        _check_truth(world, truth_dir)
    return world


def feed_matrix(world: SimWorld, feed: pd.DataFrame, name: str = "feed",
                max_items: int | None = None) -> np.ndarray:
    """A policy's exported feed as item indices, one row per simulated user, -1 padded.

    Args:
        world: the simulated population (rows follow ``world.pseudonyms``).
        feed: frame ``user_id`` (pseudonym), ``rank``, ``content_id``; rows of users not
            simulated are ignored; a content id repeated for a user keeps its best rank.
        name: the policy's name, for error messages.
        max_items: keep at most this many items per user.
    Raises:
        ValueError: a column is missing, or a content id is not an item of the world.
    """
    missing = [c for c in FEED_COLUMNS if c not in feed.columns]
    if missing:
        raise ValueError(f"policy {name!r}: feed lacks column(s) {', '.join(missing)}")
    row_of = pd.Series(np.arange(world.n), index=pd.Index(world.pseudonyms))
    item_of = pd.Series(np.arange(len(world.content_ids)), index=pd.Index(world.content_ids))
    f = feed[list(FEED_COLUMNS)]
    f = f[f[USER_ID].isin(row_of.index)]
    items = f[CONTENT_ID].map(item_of)
    if items.isna().any():
        bad = f.loc[items.isna(), CONTENT_ID].iloc[0]
        raise ValueError(f"policy {name!r}: content_id {bad!r} is not an item of this world")
    f = pd.DataFrame({"row": f[USER_ID].map(row_of).to_numpy(np.int64),
                      "rank": pd.to_numeric(f[RANK]).to_numpy(), "item": items.to_numpy(np.int64)})
    f = f.sort_values(["row", "rank", "item"], kind="stable").drop_duplicates(["row", "item"])
    slot = f.groupby("row").cumcount().to_numpy()
    if max_items is not None:
        keep = slot < max_items
        f, slot = f[keep], slot[keep]
    width = int(slot.max()) + 1 if len(slot) else 1
    out = np.full((world.n, width), -1, np.int64)
    out[f["row"].to_numpy(), slot] = f["item"].to_numpy()
    return out


@dataclass(frozen=True)
class DayResult:
    """Per simulated user (aligned with ``SimWorld.users``) outcomes of one day and the next.

    ``log`` holds one row per item a user saw: ``row`` (the user's row), ``item``, ``click``
    (a valid play) and ``negative`` (hidden or reported), what tomorrow's export learns from.
    """

    watch_ms: np.ndarray
    items_seen: np.ndarray
    ran_out: np.ndarray  # reached the end of a non-empty feed: the list, not the user, ended the day
    sessions: np.ndarray
    satisfaction: np.ndarray  # mean item satisfaction (NaN: nothing watched)
    p_return: np.ndarray  # next-day return probability
    returned: np.ndarray  # a draw of it
    has_feed: np.ndarray
    log: pd.DataFrame


# ``reactive`` of :func:`simulate_day`: re-rank by the truth of the session (a ceiling).
SESSION_TRUTH = "session_truth"


def simulate_day(world: SimWorld, feeds: np.ndarray, seed: int = 0,
                 reactive: SessionModel | str | None = None) -> DayResult:
    """Serve every simulated user their feed for one day; see the module docstring.

    Args:
        world: the population and catalogue.
        feeds: ``(world.n, L)`` item indices in rank order, -1 padded (:func:`feed_matrix`).
        seed: seeds every draw (moods, session counts, watches, continuations, returns).
        reactive: re-rank the rest of each feed before every request with this in-session
            model, from what the user did so far in the session (:mod:`foryou.rerank.session`,
            as the reader does); :data:`SESSION_TRUTH`: by the true expected watch time of each
            item for the session as it is now (its mood, tag mood, satiation and fatigue: the
            ceiling of any in-session re-ranking of that feed); None: the feed as exported.
    """
    return serve_day(world, copy.deepcopy(world.state), feeds, np.random.default_rng([seed, 0x51A]),
                     reactive=reactive)


class _Reactive:
    """The reader's in-session re-ranking inside the simulator: one :class:`Session` per live
    session, fed with the simulated outcomes, re-ordering the rest of the user's feed.
    :func:`serve_day` calls ``start`` as sessions open, ``reorder`` before every request and
    ``record`` with what each session was shown (:class:`_SessionTruth` answers the same)."""

    def __init__(self, world: SimWorld, model: SessionModel):
        self.model = model
        tags = world.catalogue.tags
        self.tags = [row[row >= 0].tolist() for row in tags]
        self.creators = world.catalogue.creator
        self.sessions: dict[int, Session] = {}

    def start(self, rows: np.ndarray) -> None:
        for r in rows.tolist():
            self.sessions[r] = Session()

    def reorder(self, feeds: np.ndarray, live: np.ndarray, users: np.ndarray, cursor: np.ndarray,
                feed_len: np.ndarray, state: UserState, sessions: SessionState) -> None:
        """Re-order each live session's unseen rest of the feed in place."""
        for r, u in zip(live.tolist(), users.tolist()):
            session = self.sessions[r]
            if not session:
                continue
            rest = feeds[u, cursor[u]:feed_len[u]]
            order = rerank(session, self.model, rest.tolist(), [self.tags[i] for i in rest],
                           self.creators[rest].tolist())
            feeds[u, cursor[u]:cursor[u] + len(order)] = rest[order]

    def record(self, rows: np.ndarray, items: np.ndarray, flags: dict[str, np.ndarray]) -> None:
        """The items each session row was shown and its outcome flags (:data:`LABEL_EVENTS`)."""
        for j, (r, i) in enumerate(zip(rows.tolist(), items.tolist())):
            events = [event for label, event in LABEL_EVENTS.items() if flags[label][j]]
            self.sessions[r].record(i, self.tags[i], int(self.creators[i]), events)


class _SessionTruth:
    """Re-orders by the true expected watch time for the session as it is (a ceiling): it
    reads the world's state, so it has no session memory of its own to start or feed."""

    def __init__(self, world: SimWorld):
        self.world = world

    def start(self, rows: np.ndarray) -> None:
        """Nothing to open: the truth is in the world's session state."""

    def record(self, rows: np.ndarray, items: np.ndarray, flags: dict[str, np.ndarray]) -> None:
        """Nothing to remember: the world's state already moved with what was shown."""

    def reorder(self, feeds: np.ndarray, live: np.ndarray, users: np.ndarray, cursor: np.ndarray,
                feed_len: np.ndarray, state: UserState, sessions: SessionState) -> None:
        """Re-order each live session's unseen rest of the feed in place, best first."""
        for r, u in zip(live.tolist(), users.tolist()):
            rest = feeds[u, cursor[u]:feed_len[u]]
            if len(rest) > 1:
                p = self.world.model.probabilities(state, sessions, np.full(len(rest), r),
                                                   self.world.items(rest)).expected_watch_ms
                feeds[u, cursor[u]:feed_len[u]] = rest[np.argsort(-p, kind="stable")]


def serve_day(world: SimWorld, state: UserState, feeds: np.ndarray, rng: np.random.Generator,
              active: np.ndarray | None = None, reactive: SessionModel | str | None = None
              ) -> DayResult:
    """One day of ``feeds`` served to the users of ``state`` (mutated: follows, satiation,
    interests and satisfaction move on to the next day); only ``active`` users (default all)
    open the app. The session counts are drawn first, for every user, so two policies served
    with generators of the same seed share them (common random numbers); later draws follow
    what each policy served. ``reactive``: see :func:`simulate_day`."""
    if feeds.shape[0] != world.n:
        raise ValueError(f"feeds has {feeds.shape[0]} rows for {world.n} simulated users")
    react = None
    if reactive == SESSION_TRUTH:
        react, feeds = _SessionTruth(world), feeds.copy()
    elif isinstance(reactive, SessionModel):
        react, feeds = _Reactive(world, reactive), feeds.copy()
    elif reactive is not None:
        raise ValueError(f"reactive={reactive!r}: a SessionModel, {SESSION_TRUTH!r} or None")
    model, cfg = world.model, world.cfg
    n, k = world.n, cfg.items_per_request
    feed_len = (feeds >= 0).sum(axis=1)
    width = feeds.shape[1]
    opens = feed_len > 0 if active is None else (feed_len > 0) & active
    n_sessions = np.where(opens,
                          1 + rng.poisson(model.sessions_mean(state, cfg.sessions_per_active_day) - 1.0), 0)
    cursor = np.zeros(n, np.int64)
    watch = np.zeros(n)
    sat_sum, seen = np.zeros(n), np.zeros(n, np.int64)
    sessions_opened = np.zeros(n, np.int64)
    logged: list[tuple[np.ndarray, ...]] = []
    j = 0
    while True:
        who = np.nonzero((n_sessions > j) & (cursor < feed_len))[0]
        if len(who) == 0:
            break
        sessions = model.start_sessions(rng, state, who)
        sessions_opened[who] += 1
        live = np.arange(len(who))
        if react is not None:
            react.start(live)
        while len(live):
            users = sessions.user[live]
            if react is not None:
                react.reorder(feeds, live, users, cursor, feed_len, state, sessions)
            idx = cursor[users][:, None] + np.arange(k)[None, :]
            items = np.where(idx < width, feeds[users[:, None], np.minimum(idx, width - 1)], -1)
            valid = items >= 0  # a prefix of each row: feeds are padded at the end
            flat_valid = valid.ravel()
            rows = np.repeat(live, k)[flat_valid]
            flat = items.ravel()[flat_valid]
            position = np.tile(np.arange(k), len(live))[flat_valid]
            served = world.items(flat)
            step = model.request(rng, state, sessions, rows, served, position, valid)
            out, quits, last, shown = step.out, step.quits, step.last, step.shown
            sel = shown[valid]
            who_sel = sessions.user[rows[sel]]
            if react is not None:
                react.record(rows[sel], flat[sel],
                             {label: getattr(out, label)[sel] for label in LABEL_EVENTS})
            logged.append((who_sel, flat[sel], out.click[sel], (out.hide | out.report)[sel]))
            watch += np.bincount(who_sel, out.watch_ms[sel], minlength=n)
            sat_sum += np.bincount(who_sel, out.satisfaction[sel], minlength=n)
            n_shown = last + 1
            seen[users] += n_shown
            follow = out.follow & sel
            unfollow = out.unfollow & sel
            if follow.any():
                state.follow(sessions.user[rows[follow]], served.creator[follow])
            if unfollow.any():
                state.unfollow(sessions.user[rows[unfollow]], served.creator[unfollow])
            mean_sat = np.where(shown, _rows(out.satisfaction, valid), 0.0).sum(axis=1) / n_shown
            model.update_sessions(sessions, live, n_shown, mean_sat)
            cursor[users] += n_shown
            live = live[~quits.any(axis=1) & (cursor[users] < feed_len[users])]
        j += 1
    day_sat = np.where(seen > 0, sat_sum / np.maximum(seen, 1), np.nan)
    model.end_day(rng, state, day_sat, np.zeros_like(state.interest))
    p_return = model.return_probability(state)
    empty = ([np.zeros(0, np.int64)],) * 2 + ([np.zeros(0, bool)],) * 2
    columns = list(zip(*logged)) if logged else empty
    log = pd.DataFrame({name: np.concatenate(col) for name, col in zip(LOG_COLUMNS, columns)})
    return DayResult(watch_ms=watch, items_seen=seen, ran_out=(feed_len > 0) & (cursor >= feed_len),
                     sessions=sessions_opened,
                     satisfaction=day_sat, p_return=p_return,
                     returned=rng.random(n) < p_return, has_feed=feed_len > 0, log=log)


def _rows(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Scatter per-valid-item ``values`` back into the ``valid`` grid (0 elsewhere)."""
    grid = np.zeros(valid.shape)
    grid[valid] = values
    return grid


# A policy served over several days: (day, the users' state this morning, ``seen`` (n, n_items)
# items each user saw on earlier days, the log of earlier days (``LOG_COLUMNS`` and ``day``))
# -> that day's feeds, ``(world.n, L)`` item indices in rank order, -1 padded.
DailyPolicy = Callable[[int, UserState, np.ndarray, pd.DataFrame], np.ndarray]


@dataclass(frozen=True)
class DaysResult:
    """Per simulated user (rows of ``SimWorld.users``) and day (columns): what a policy served
    over several days gave. A user who did not come back on a day has no watch time that day."""

    watch_ms: np.ndarray      # (n, days)
    active: np.ndarray        # (n, days): opened the app (day 0: everyone)
    p_return: np.ndarray      # (n, days): the next day's return probability
    items_seen: np.ndarray    # (n, days)
    sessions: np.ndarray      # (n, days)


def unseen(feeds: np.ndarray, seen: np.ndarray, length: int) -> np.ndarray:
    """Each row of ``feeds`` without the items its user already ``seen`` (``(n, n_items)``
    bool), the rest moved up and cut to ``length`` (-1 padded)."""
    rows = np.arange(feeds.shape[0])[:, None]
    keep = (feeds >= 0) & ~seen[rows, np.maximum(feeds, 0)]
    order = np.argsort(~keep, axis=1, kind="stable")[:, :length]
    out = np.take_along_axis(np.where(keep, feeds, -1), order, axis=1)
    if out.shape[1] < length:
        out = np.pad(out, ((0, 0), (0, length - out.shape[1])), constant_values=-1)
    return out


def simulate_days(world: SimWorld, policy: DailyPolicy, days: int, length: int, seed: int = 0
                  ) -> DaysResult:
    """Serve ``policy``'s feed for ``days`` days in a row to the same users.

    Every user opens the app on day 0; on each later day only the users whose return draw of
    the day before came up (``DayResult.returned``), so a feed that tires its users loses
    tomorrow's time as well. The state carries over: satiation (recovering overnight),
    interests, follows, satisfaction. Each day the policy's feed is cut to ``length`` items the
    user has not seen on an earlier day (the export's repeat guard, for every policy alike).
    Day ``d`` draws from a generator seeded by ``(seed, d)``, the same for every policy.
    """
    if days < 1:
        raise ValueError(f"days={days}: simulate at least one day")
    state = copy.deepcopy(world.state)
    seen = np.zeros((world.n, world.catalogue.n_items), bool)
    active = np.ones(world.n, bool)
    logs: list[pd.DataFrame] = []
    out = {name: np.zeros((world.n, days)) for name in ("watch_ms", "p_return", "items_seen",
                                                        "sessions")}
    was_active = np.zeros((world.n, days), bool)
    for day in range(days):
        history = (pd.concat(logs, ignore_index=True) if logs
                   else pd.DataFrame({c: [] for c in (*LOG_COLUMNS, "day")}))
        feeds = unseen(policy(day, state, seen, history), seen, length)
        rng = np.random.default_rng([seed, 0x51A] if day == 0 else [seed, 0x51A, day])
        result = serve_day(world, state, feeds, rng, active)
        was_active[:, day] = active & result.has_feed
        for name in out:
            out[name][:, day] = getattr(result, name)
        seen[result.log["row"].to_numpy(), result.log["item"].to_numpy()] = True
        logs.append(result.log.assign(day=day))
        active = result.returned
    return DaysResult(watch_ms=out["watch_ms"], active=was_active, p_return=out["p_return"],
                      items_seen=out["items_seen"], sessions=out["sessions"])
