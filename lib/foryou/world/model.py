"""The user model: how a simulated person reacts to a served video, ends a session, comes back.

Pure numpy and vectorised over a population: every array is aligned on users (``UserState``),
on live sessions (``SessionState``) or on served items (``Items``, ``Probabilities``,
``Outcomes``). Given the same ``numpy.random.Generator`` state it returns the same draws, so the
world generator and a later simulator environment (which serves its own items and scores a
policy by the outcomes) share one definition of behaviour.

The model, per served item of duration D (ms):

- affinity ``z``: log-lift of the user's current interest in the item's tags over a uniform
  interest, ``z = log((T * mean_tags(interest * session_tag_mood) + 0.1) / 1.1)`` clipped to
  [-3, 3]; 0 means "as interesting as an average tag".
- the user is *hooked* with probability ``h = sigmoid(hook_bias + hook_affinity*z + quality +
  mood + propensity + follow_bonus*followed)``; a hooked user watches an exponential time with
  mean ``m = watch_mean_ms * (D/30 s)^duration_elasticity * exp(watch_affinity*z + quality/2 +
  mood/3)``, stopping at the end (D); an unhooked user swipes away uniformly within the first
  ``min(skip_ms, D)``.
- labels follow KuaiRand's definitions, on the first play:
  ``click`` (valid play) = play >= D if D <= 7 s else play > 7 s;
  ``long_view`` = play >= min(D, 18 s); ``complete`` = play >= D;
  ``skip`` = play < min(skip_ms, D) (3 s: a swipe before the video could say anything).
  With the exponential tail the true probabilities are closed-form:
  ``P(play >= t) = h * exp(-t/m)`` for t above the swipe window.
- a completed video is replayed with probability ``sigmoid(replay logit)``; the replay adds
  ``min(D, Exp(m))`` to ``watch_ms`` (so watch_ms can exceed D, as KuaiRand's play_time_ms does).
- like, comment, share, save and follow happen only after a valid play, each with its own
  logit on affinity, quality, propensity and mood; follow only if the creator is not followed.
  hide and report happen only after a skip; report mostly on bad items (very low quality);
  unfollow after skipping an item of a followed creator.
- per item satisfaction ``s = 0.5*min(play/D, 1) + 0.2*long_view + 0.3*engaged -
  0.6*(hide or report)``; the session continues after an item with probability
  ``sigmoid(continue_bias + continue_satisfaction*(s - ref) + mood - fatigue*items_seen)`` and
  the mood drifts with the satisfaction of each request.
- satiation (the rebounding model of Leqi et al., "Rebounding Bandits for Modeling Satiation
  Effects", NeurIPS 2021): each user carries a satiation level per tag, raised by what the user
  consumes (the watched fraction of each item, on each of its tags) and decaying geometrically:
  by ``satiation_item_retention`` per item seen, ``satiation_session_retention`` at each new
  session and ``satiation_day_retention`` overnight. A tag's interest weight in the affinity is
  multiplied by ``exp(-satiation * level)``, so a session of one topic tires of it and a tag
  left alone rebounds to its full appeal. ``satiation = 0`` switches it off.
- a user returns on a day with ``sigmoid(logit(return_base[activity]) +
  return_satisfaction*(yesterday's mean s - ref))``; interests drift daily (a mean-reverting
  log-normal walk towards the long-term interests, reinforced by what the user engaged with).

``BotModel`` is the engagement-farm behaviour: likes, follows and saves without views, at a
metronome-regular pace, in bursts that many bots aim at the same few videos at the same time.

Example:
    >>> rng = np.random.default_rng(0)
    >>> model = UserModel(n_tags=4, activity_degrees=("full_active",))
    >>> users = model.new_users(rng, activity=np.zeros(2, np.int8), tag_prior=np.ones(4) / 4)
    >>> sessions = model.start_sessions(rng, users, np.array([0, 1]))
    >>> items = Items(tags=np.array([[0, -1, -1], [1, 2, -1]]), duration_ms=np.array([20_000, 9_000]),
    ...               quality=np.zeros(2), creator=np.array([5, 6]))
    >>> probs = model.probabilities(users, sessions, np.array([0, 1]), items)
    >>> out = model.sample(rng, probs, items)
    >>> bool(((probs.p_long_view <= probs.p_click) | (items.duration_ms <= 7_000)).all())
    True
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Mapping

import numpy as np

CLICK_MS = 7_000  # KuaiRand: a valid play of a video longer than 7 s is a play longer than 7 s
LONG_VIEW_MS = 18_000  # KuaiRand: long_view threshold
MAX_WATCH_MS = 25 * 60_000  # a replay never takes a single item past 25 minutes


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _logit(p: np.ndarray | float) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def tag_affinity(weight: np.ndarray, valid: np.ndarray, n_tags: int) -> np.ndarray:
    """Affinity ``z`` of each row from the interest ``weight`` in its item's tags (``(n, k)``,
    ``valid`` masks the padding): the log-lift of their mean over a uniform interest over
    ``n_tags`` tags, clipped to [-3, 3] (0 = as interesting as an average tag)."""
    mean = (weight * valid).sum(axis=1) / np.maximum(valid.sum(axis=1), 1)
    return np.clip(np.log((n_tags * mean + 0.1) / 1.1), -3.0, 3.0)


@dataclass(frozen=True)
class UserModelParams:
    """Coefficients of the user model. Logits unless said otherwise; ms for times.

    The defaults are tuned so that a world served by the generator's logging policy lands near
    KuaiRand's rates: click (valid play) ~40%, long_view ~30%, like ~2%, follow < 1%.
    """

    # Chance to open the app on a day, by KuaiRand ``user_active_degree``.
    return_base: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({
        "full_active": 0.90, "high_active": 0.72, "middle_active": 0.50, "low_active": 0.25,
        "2_14_day_new": 0.45, "single_low_active": 0.10, "30day_retention": 0.30,
        "day_new": 0.50, "UNKNOWN": 0.40}))
    return_default: float = 0.40
    # Sessions on an active day, relative to WorldConfig.sessions_per_active_day.
    sessions_scale: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({
        "full_active": 1.25, "high_active": 1.0, "middle_active": 0.75, "low_active": 0.5,
        "2_14_day_new": 0.8, "single_low_active": 0.4, "30day_retention": 0.6,
        "day_new": 0.9, "UNKNOWN": 0.7}))
    return_satisfaction: float = 6.0
    satisfaction_ref: float = 0.30
    # Interests: Dirichlet(interest_concentration * tag_prior), floor keeps every tag reachable.
    interest_concentration: float = 6.0
    interest_floor: float = 1e-4
    drift_sigma: float = 0.15
    drift_reversion: float = 0.10
    drift_reinforcement: float = 0.05
    propensity_sigma: float = 0.35
    mood_sigma: float = 0.30
    tag_mood_sigma: float = 0.40
    mood_learning: float = 0.15
    boredom: float = 0.01
    # Watching.
    hook_bias: float = -0.30
    hook_affinity: float = 0.50
    follow_bonus: float = 0.6
    watch_mean_ms: float = 18_000.0
    duration_elasticity: float = 0.5
    watch_affinity: float = 0.25
    swipe_min_ms: float = 150.0
    skip_ms: float = 3_000.0
    replay_bias: float = -2.2
    replay_affinity: float = 0.5
    # Engagement after a valid play: (bias, affinity weight, quality weight).
    like: tuple[float, float, float] = (-4.2, 0.45, 0.8)
    comment: tuple[float, float, float] = (-5.4, 0.30, 0.5)
    share: tuple[float, float, float] = (-5.8, 0.40, 0.8)
    save: tuple[float, float, float] = (-4.8, 0.40, 0.6)
    follow: tuple[float, float, float] = (-5.6, 0.50, 0.6)
    # Negative feedback after a skip: (bias, affinity weight, quality weight).
    hide: tuple[float, float, float] = (-5.1, -0.40, -0.5)
    report: tuple[float, float, float] = (-6.3, -0.20, -1.6)
    unfollow: tuple[float, float, float] = (-2.6, -0.40, -0.5)
    # Session continuation after each item.
    continue_bias: float = 3.4
    continue_satisfaction: float = 2.5
    fatigue: float = 0.012
    # Satiation per tag (see the module docstring): strength (log-appeal lost per unit of
    # satiation; a world parameter, ``WorldConfig.satiation``) and the share of it kept per item
    # seen, at a new session and overnight.
    satiation: float = 0.0
    satiation_item_retention: float = 0.85
    satiation_session_retention: float = 0.5
    satiation_day_retention: float = 0.2


@dataclass(frozen=True)
class Items:
    """Served items, one entry per impression (arrays of equal length).

    Attributes:
        tags: ``(n, k)`` tag indices, -1 padded.
        duration_ms: video durations.
        quality: latent quality (0 average; about -2.5 for spam and other bad items).
        creator: creator indices (compared with ``UserState.follows``).
    """

    tags: np.ndarray
    duration_ms: np.ndarray
    quality: np.ndarray
    creator: np.ndarray


@dataclass
class UserState:
    """A population of users (axis 0), mutated in place by the model and the world.

    Attributes:
        interest: ``(n, T)`` current interest over tags, rows sum to 1.
        base_interest: ``(n, T)`` long-term interest the current one reverts to.
        activity: activity degree codes (index into ``UserModel.activity_degrees``).
        propensity: per-user engagement bias (logit).
        satisfaction: mean item satisfaction on the user's last active day (NaN: none yet).
        follows: ``(n, F)`` followed creator indices, -1 for an empty slot (a ring buffer).
        follow_next: next slot of the ring buffer to overwrite.
        is_bot: engagement bots (the model never simulates them as viewers).
        satiation: ``(n, T)`` satiation level per tag (0: fresh; see the module docstring).
    """

    interest: np.ndarray
    base_interest: np.ndarray
    activity: np.ndarray
    propensity: np.ndarray
    satisfaction: np.ndarray
    follows: np.ndarray
    follow_next: np.ndarray
    is_bot: np.ndarray
    satiation: np.ndarray

    @property
    def n(self) -> int:
        return len(self.activity)

    def take(self, rows: np.ndarray) -> "UserState":
        """The users ``rows`` (a copy)."""
        return UserState(**{f.name: getattr(self, f.name)[rows] for f in fields(self)})

    @staticmethod
    def concat(states: list["UserState"]) -> "UserState":
        """The users of ``states``, one after another."""
        return UserState(**{f.name: np.concatenate([getattr(s, f.name) for s in states])
                            for f in fields(UserState)})

    def is_following(self, users: np.ndarray, creators: np.ndarray) -> np.ndarray:
        """Whether ``users[i]`` follows ``creators[i]`` (any shape, broadcast on the last axis)."""
        return (self.follows[users] == creators[..., None]).any(axis=-1)

    def follow(self, users: np.ndarray, creators: np.ndarray) -> None:
        """Record follows in order (a repeat of a followed creator is a no-op)."""
        slots = self.follows.shape[1]
        for user, creator in zip(users.tolist(), creators.tolist()):
            if creator in self.follows[user]:
                continue
            self.follows[user, self.follow_next[user] % slots] = creator
            self.follow_next[user] += 1

    def unfollow(self, users: np.ndarray, creators: np.ndarray) -> None:
        """Remove follows (an absent one is a no-op)."""
        for user, creator in zip(users.tolist(), creators.tolist()):
            self.follows[user][self.follows[user] == creator] = -1


@dataclass
class SessionState:
    """Live sessions (axis 0): who is in them and their short-term mood.

    Attributes:
        user: row of each session's user in ``UserState``.
        mood: scalar appetite (logit shift on everything positive).
        tag_mood: ``(m, T)`` multiplicative short-term interest per tag (today I want cooking).
        items_seen: items watched so far in the session.
    """

    user: np.ndarray
    mood: np.ndarray
    tag_mood: np.ndarray
    items_seen: np.ndarray


@dataclass(frozen=True)
class Probabilities:
    """True probabilities of each label for each served item (all shape ``(n,)``)."""

    affinity: np.ndarray
    hook: np.ndarray
    mean_watch_ms: np.ndarray
    p_click: np.ndarray
    p_long_view: np.ndarray
    p_complete: np.ndarray
    p_skip: np.ndarray
    p_replay: np.ndarray
    p_like: np.ndarray
    p_comment: np.ndarray
    p_share: np.ndarray
    p_save: np.ndarray
    p_follow: np.ndarray
    p_hide: np.ndarray
    p_report: np.ndarray
    p_unfollow: np.ndarray
    expected_watch_ms: np.ndarray
    # Conditional probabilities the sampler needs (given a valid play / a skip / a completion).
    like_given_click: np.ndarray
    comment_given_click: np.ndarray
    share_given_click: np.ndarray
    save_given_click: np.ndarray
    follow_given_click: np.ndarray
    hide_given_skip: np.ndarray
    report_given_skip: np.ndarray
    unfollow_given_skip: np.ndarray
    replay_given_complete: np.ndarray
    followed: np.ndarray


@dataclass(frozen=True)
class Outcomes:
    """Sampled outcomes of each served item (shape ``(n,)``; flags are bool).

    ``play_ms`` is the first play, ``watch_ms`` adds the replay. ``satisfaction`` is the
    item's contribution to the user's session and day satisfaction.
    """

    play_ms: np.ndarray
    watch_ms: np.ndarray
    click: np.ndarray
    long_view: np.ndarray
    complete: np.ndarray
    replay: np.ndarray
    skip: np.ndarray
    like: np.ndarray
    comment: np.ndarray
    share: np.ndarray
    save: np.ndarray
    follow: np.ndarray
    hide: np.ndarray
    report: np.ndarray
    unfollow: np.ndarray
    satisfaction: np.ndarray

    @property
    def engaged(self) -> np.ndarray:
        return self.like | self.comment | self.share | self.save | self.follow


@dataclass(frozen=True)
class Request:
    """What one feed request did (:meth:`UserModel.request`)."""

    probs: Probabilities
    out: Outcomes
    quits: np.ndarray   # (live sessions, k): the session stopped after this cell
    last: np.ndarray    # (live sessions,): index of the last cell seen
    shown: np.ndarray   # (live sessions, k): cells seen


class UserModel:
    """Behaviour of a population of users; see the module docstring for the equations.

    Args:
        n_tags: size of the tag space (columns of the interest matrices).
        activity_degrees: names of the activity degree codes (KuaiRand ``user_active_degree``).
        params: coefficients; defaults are calibrated to KuaiRand-like rates.
        follow_slots: creators a user can follow at once (a ring buffer; the oldest drops out).
    """

    def __init__(self, n_tags: int, activity_degrees: tuple[str, ...],
                 params: UserModelParams | None = None, follow_slots: int = 16) -> None:
        self.n_tags = n_tags
        self.activity_degrees = tuple(activity_degrees)
        self.params = params or UserModelParams()
        self.follow_slots = follow_slots
        p = self.params
        self._return_logit = _logit(np.array(
            [p.return_base.get(d, p.return_default) for d in self.activity_degrees]))
        self._sessions_scale = np.array(
            [p.sessions_scale.get(d, 1.0) for d in self.activity_degrees])

    # ---- population -------------------------------------------------------------------------

    def new_users(self, rng: np.random.Generator, activity: np.ndarray, tag_prior: np.ndarray,
                  is_bot: np.ndarray | None = None) -> UserState:
        """Draw ``len(activity)`` users: Dirichlet interests around ``tag_prior``, propensities.

        Args:
            rng: the generator to draw from.
            activity: activity degree codes, one per user.
            tag_prior: share of each tag in the catalogue (sums to 1); popular tags attract
                more users.
            is_bot: which users are bots (default none).
        """
        n, p = len(activity), self.params
        alpha = np.maximum(p.interest_concentration * np.asarray(tag_prior, float), 1e-3)
        # Dirichlet via normalised gammas (numpy's Generator.dirichlet is not batched per row).
        gam = rng.standard_gamma(np.broadcast_to(alpha, (n, self.n_tags)))
        interest = gam / gam.sum(axis=1, keepdims=True)
        interest = np.maximum(interest, p.interest_floor)
        interest /= interest.sum(axis=1, keepdims=True)
        # Active users engage more: full_active shifts propensity up relative to rare users.
        active_shift = 0.25 * (self._return_logit[activity] - self._return_logit.mean())
        return UserState(
            interest=interest,
            base_interest=interest.copy(),
            activity=np.asarray(activity, np.int8),
            propensity=rng.normal(0.0, p.propensity_sigma, n) + 0.3 * np.tanh(active_shift),
            satisfaction=np.full(n, np.nan),
            follows=np.full((n, self.follow_slots), -1, np.int32),
            follow_next=np.zeros(n, np.int64),
            is_bot=np.zeros(n, bool) if is_bot is None else np.asarray(is_bot, bool),
            satiation=np.zeros((n, self.n_tags)),
        )

    def return_probability(self, state: UserState) -> np.ndarray:
        """Chance that each user opens the app today, given yesterday's satisfaction."""
        sat = np.nan_to_num(state.satisfaction - self.params.satisfaction_ref, nan=0.0)
        return _sigmoid(self._return_logit[state.activity] + self.params.return_satisfaction * sat)

    def sessions_mean(self, state: UserState, mean_sessions: float) -> np.ndarray:
        """Expected sessions on an active day for each user."""
        return np.maximum(1.0, mean_sessions * self._sessions_scale[state.activity])

    def end_day(self, rng: np.random.Generator, state: UserState, day_satisfaction: np.ndarray,
                engaged_tags: np.ndarray) -> None:
        """Close a day: remember satisfaction (NaN = inactive, keeps the old one) and drift
        interests towards the long-term ones, a little towards what the user engaged with."""
        p = self.params
        active = ~np.isnan(day_satisfaction)
        state.satisfaction = np.where(active, day_satisfaction, state.satisfaction)
        log_i = ((1 - p.drift_reversion) * np.log(state.interest)
                 + p.drift_reversion * np.log(state.base_interest)
                 + rng.normal(0.0, p.drift_sigma, state.interest.shape))
        drifted = np.exp(log_i - log_i.max(axis=1, keepdims=True))
        drifted /= drifted.sum(axis=1, keepdims=True)
        total = engaged_tags.sum(axis=1, keepdims=True)
        reinforce = np.divide(engaged_tags, total, out=np.zeros_like(engaged_tags), where=total > 0)
        mixed = (1 - p.drift_reinforcement * (total > 0)) * drifted + p.drift_reinforcement * reinforce
        mixed = np.maximum(mixed, p.interest_floor)
        state.interest = mixed / mixed.sum(axis=1, keepdims=True)
        state.satiation *= p.satiation_day_retention

    # ---- sessions ---------------------------------------------------------------------------

    def start_sessions(self, rng: np.random.Generator, state: UserState,
                       users: np.ndarray) -> SessionState:
        """Open one session for each of ``users`` (rows of ``state``) with a fresh mood.

        The mood starts a little higher for users who liked their last active day; the users'
        satiation decays by ``satiation_session_retention`` (time has passed since the last one).
        """
        m, p = len(users), self.params
        users = np.asarray(users)
        state.satiation[users] *= p.satiation_session_retention
        carry = np.nan_to_num(state.satisfaction[users] - p.satisfaction_ref, nan=0.0)
        return SessionState(
            user=users,
            mood=rng.normal(0.0, p.mood_sigma, m) + p.mood_learning * carry,
            tag_mood=np.exp(rng.normal(0.0, p.tag_mood_sigma, (m, self.n_tags))),
            items_seen=np.zeros(m, np.int64),
        )

    def affinity(self, state: UserState, sessions: SessionState, rows: np.ndarray,
                 items: Items) -> np.ndarray:
        """Affinity ``z`` of session ``rows[i]``'s user for item ``i`` (0 = an average tag)."""
        users = sessions.user[rows]
        tags = np.asarray(items.tags)
        valid = tags >= 0
        safe = np.where(valid, tags, 0)
        weight = state.interest[users[:, None], safe] * sessions.tag_mood[rows[:, None], safe]
        if self.params.satiation:
            weight = weight * np.exp(-self.params.satiation * state.satiation[users[:, None], safe])
        return tag_affinity(weight, valid, self.n_tags)

    def probabilities(self, state: UserState, sessions: SessionState, rows: np.ndarray,
                      items: Items, followed: np.ndarray | None = None) -> Probabilities:
        """True label probabilities of serving ``items[i]`` to session ``rows[i]``.

        Args:
            state: the users.
            sessions: live sessions; ``rows`` index into them.
            rows: session row of each served item.
            items: the served items.
            followed: whether the user follows each item's creator (computed when omitted).
        """
        p = self.params
        rows = np.asarray(rows)
        users = sessions.user[rows]
        if followed is None:
            followed = state.is_following(users, np.asarray(items.creator))
        z = self.affinity(state, sessions, rows, items)
        q = np.asarray(items.quality, float)
        mood = sessions.mood[rows]
        prop = state.propensity[users]
        d = np.asarray(items.duration_ms, float)
        hook = _sigmoid(p.hook_bias + p.hook_affinity * z + q + mood + prop + p.follow_bonus * followed)
        m = (p.watch_mean_ms * (d / 30_000.0) ** p.duration_elasticity
             * np.exp(p.watch_affinity * z + 0.5 * q + mood / 3.0))
        m = np.maximum(m, 500.0)
        t_click = np.where(d <= CLICK_MS, d, CLICK_MS)
        t_skip = np.minimum(p.skip_ms, d)
        p_click = hook * np.exp(-t_click / m)
        p_long = hook * np.exp(-np.minimum(d, LONG_VIEW_MS) / m)
        p_complete = hook * np.exp(-d / m)
        p_skip = (1 - hook) + hook * (1 - np.exp(-t_skip / m))
        replay = _sigmoid(p.replay_bias + p.replay_affinity * z + q)

        def given(coef: tuple[float, float, float], extra: np.ndarray | float = 0.0) -> np.ndarray:
            bias, w_aff, w_q = coef
            return _sigmoid(bias + w_aff * z + w_q * q + prop + mood + extra)

        like = given(p.like, 0.3 * followed)
        comment, share, save = given(p.comment), given(p.share), given(p.save)
        follow = given(p.follow) * ~followed
        neg = lambda coef: _sigmoid(coef[0] + coef[1] * z + coef[2] * q - 0.5 * mood)  # noqa: E731
        hide, report = neg(p.hide), neg(p.report)
        unfollow = neg(p.unfollow) * followed
        swipe_mean = (p.swipe_min_ms + np.maximum(t_skip, p.swipe_min_ms)) / 2
        hooked_mean = m * (1 - np.exp(-d / m))  # E[min(D, Exp(m))]
        expected = (1 - hook) * swipe_mean + hook * hooked_mean + p_complete * replay * hooked_mean
        return Probabilities(
            affinity=z, hook=hook, mean_watch_ms=m,
            p_click=p_click, p_long_view=p_long, p_complete=p_complete, p_skip=p_skip,
            p_replay=p_complete * replay,
            p_like=p_click * like, p_comment=p_click * comment, p_share=p_click * share,
            p_save=p_click * save, p_follow=p_click * follow,
            p_hide=p_skip * hide, p_report=p_skip * report, p_unfollow=p_skip * unfollow,
            expected_watch_ms=expected,
            like_given_click=like, comment_given_click=comment, share_given_click=share,
            save_given_click=save, follow_given_click=follow, hide_given_skip=hide,
            report_given_skip=report, unfollow_given_skip=unfollow, replay_given_complete=replay,
            followed=np.asarray(followed, bool),
        )

    def sample(self, rng: np.random.Generator, probs: Probabilities, items: Items) -> Outcomes:
        """Draw the outcomes of the served items from their probabilities."""
        p = self.params
        n = len(probs.hook)
        d = np.asarray(items.duration_ms, float)
        u = rng.random((12, n))
        m = probs.mean_watch_ms
        hooked = u[0] < probs.hook
        t_skip = np.minimum(p.skip_ms, d)
        swipe = p.swipe_min_ms + u[1] * np.maximum(t_skip - p.swipe_min_ms, 0.0)
        leave = np.where(hooked, -m * np.log1p(-u[1]), swipe)
        # Labels are computed on the whole milliseconds that the log reports.
        play = np.rint(np.minimum(leave, d))
        complete = play >= d
        replay = complete & (u[2] < probs.replay_given_complete)
        extra = np.where(replay, np.rint(np.minimum(d, -m * np.log1p(-u[3]))), 0.0)
        watch = np.minimum(play + extra, np.maximum(MAX_WATCH_MS, d))
        click = np.where(d <= CLICK_MS, play >= d, play > CLICK_MS)
        long_view = play >= np.minimum(d, LONG_VIEW_MS)
        skip = play < t_skip
        like = click & (u[4] < probs.like_given_click)
        comment = click & (u[5] < probs.comment_given_click)
        share = click & (u[6] < probs.share_given_click)
        save = click & (u[7] < probs.save_given_click)
        follow = click & (u[8] < probs.follow_given_click)
        hide = skip & (u[9] < probs.hide_given_skip)
        report = skip & (u[10] < probs.report_given_skip)
        unfollow = skip & (u[11] < probs.unfollow_given_skip)
        engaged = like | comment | share | save | follow
        sat = (0.5 * np.minimum(play / d, 1.0) + 0.2 * long_view + 0.3 * engaged
               - 0.6 * (hide | report))
        return Outcomes(
            play_ms=play.astype(np.int64), watch_ms=watch.astype(np.int64),
            click=click, long_view=long_view, complete=complete, replay=replay, skip=skip,
            like=like, comment=comment, share=share, save=save, follow=follow, hide=hide,
            report=report, unfollow=unfollow, satisfaction=sat,
        )

    def continue_probability(self, sessions: SessionState, rows: np.ndarray,
                             satisfaction: np.ndarray, position_in_session: np.ndarray | int = 0
                             ) -> np.ndarray:
        """Chance that session ``rows[i]`` goes on after an item of the given satisfaction.

        ``position_in_session`` is the number of items of the session before this one that are
        not yet counted in ``sessions.items_seen`` (items of the same request).
        """
        p = self.params
        seen = sessions.items_seen[rows] + position_in_session
        return _sigmoid(p.continue_bias + p.continue_satisfaction * (satisfaction - p.satisfaction_ref)
                        + sessions.mood[rows] - p.fatigue * seen)

    def request(self, rng: np.random.Generator, state: UserState, sessions: SessionState,
                rows: np.ndarray, items: Items, position: np.ndarray, valid: np.ndarray) -> Request:
        """One feed request to each live session: the step of the session loop that the world
        (:mod:`foryou.world.simulate`) and the feed simulator (:mod:`foryou.simulator`) share.

        Args:
            rows: the session row of each served item (``(m,)``, the ``valid`` cells in
                row-major order); ``items`` and ``position`` (its place in the request) alike.
            valid: ``(live sessions, k)``: which cells of each request hold an item (a prefix
                of each row: a feed may run out).
        Returns:
            the probabilities and outcomes of every served item, and where each session quit:
            ``last`` is the last item it saw, ``shown`` the cells it saw.
        """
        probs = self.probabilities(state, sessions, rows, items)
        out = self.sample(rng, probs, items)
        go_on = self.continue_probability(sessions, rows, out.satisfaction, position + 1)
        quits = np.zeros(valid.shape, bool)
        quits[valid] = rng.random(int(valid.sum())) >= go_on
        last = np.where(quits.any(axis=1), quits.argmax(axis=1), valid.sum(axis=1) - 1)
        shown = (np.arange(valid.shape[1])[None, :] <= last[:, None]) & valid
        self.satiate(state, sessions.user[rows], items, out, shown[valid])
        return Request(probs, out, quits, last, shown)

    def satiate(self, state: UserState, users: np.ndarray, items: Items, out: Outcomes,
                seen: np.ndarray) -> None:
        """After a request: decay each user's satiation by ``satiation_item_retention`` per item
        seen, then add the watched fraction of each seen item to each of its tags (an item's
        own place in the request is not told apart: all of them count as of its end)."""
        p = self.params
        if not p.satiation:
            return
        users, seen = np.asarray(users), np.asarray(seen, bool)
        n_seen = np.bincount(users[seen], minlength=state.n)
        hit = np.nonzero(n_seen)[0]
        state.satiation[hit] *= p.satiation_item_retention ** n_seen[hit][:, None]
        d = np.maximum(np.asarray(items.duration_ms, float)[seen], 1.0)
        consumed = np.minimum(out.play_ms[seen] / d, 1.0)
        tags = np.asarray(items.tags)[seen]
        valid = tags >= 0
        cells = users[seen][:, None] * self.n_tags + np.where(valid, tags, 0)
        add = np.bincount(cells[valid], np.broadcast_to(consumed[:, None], tags.shape)[valid],
                          minlength=state.n * self.n_tags)
        state.satiation += add.reshape(state.n, self.n_tags)

    def update_sessions(self, sessions: SessionState, rows: np.ndarray, seen: np.ndarray,
                        mean_satisfaction: np.ndarray) -> None:
        """After a feed request: count the items seen and move the mood with their satisfaction."""
        p = self.params
        sessions.items_seen[rows] += seen
        sessions.mood[rows] += (p.mood_learning * (mean_satisfaction - p.satisfaction_ref)
                                - p.boredom * seen)


@dataclass(frozen=True)
class BotEvents:
    """Events of engagement bots (aligned arrays): which bot, item, action and when."""

    bot: np.ndarray
    item: np.ndarray
    action: np.ndarray
    ts_ms: np.ndarray


@dataclass(frozen=True)
class BotModel:
    """Engagement farming: no views, metronome timing, coordinated bursts on the same videos.

    Every bot of a campaign works through the same target items in each burst, performing
    ``actions`` on each target ``interval_ms`` apart (a scripted client: jitter of a few ms),
    starting within ``spread_ms`` of the burst's start.
    """

    actions: tuple[str, ...] = ("like", "follow", "save")
    interval_ms: int = 1_500
    jitter_ms: int = 8
    spread_ms: int = 90_000

    def burst_events(self, rng: np.random.Generator, n_bots: int, targets: np.ndarray,
                     burst_start_ms: np.ndarray) -> BotEvents:
        """The events of ``n_bots`` bots in bursts starting at ``burst_start_ms`` on ``targets``.

        ``action`` indexes ``self.actions``.
        """
        n_bursts, n_targets, n_actions = len(burst_start_ms), len(targets), len(self.actions)
        shape = (n_bots, n_bursts, n_targets, n_actions)
        step = (np.arange(n_targets)[:, None] * n_actions + np.arange(n_actions)[None, :])
        offset = rng.integers(0, self.spread_ms, (n_bots, n_bursts))
        jitter = rng.integers(-self.jitter_ms, self.jitter_ms + 1, shape)
        ts = (np.asarray(burst_start_ms, np.int64)[None, :, None, None] + offset[:, :, None, None]
              + step[None, None] * self.interval_ms + jitter)
        return BotEvents(
            bot=np.broadcast_to(np.arange(n_bots)[:, None, None, None], shape).ravel(),
            item=np.broadcast_to(np.asarray(targets)[None, None, :, None], shape).ravel(),
            action=np.broadcast_to(np.arange(n_actions)[None, None, None, :], shape).ravel(),
            ts_ms=ts.ravel(),
        )
