"""Gymnasium's Blackjack with one Discrete observation and its exact infinite-deck model.

Tabular agents index tables by one integer, so the observation (player sum, dealer's showing
card, usable ace) becomes `np.ravel_multi_index` of it in the (32, 11, 2) grid of Blackjack's
Tuple space. The dynamics are Gymnasium's own (this is a subclass of its BlackjackEnv, `sab`
and `natural` as there). `P` is the toy-text transition table of the same game with an infinite
deck (cards drawn with replacement: 1-9 with probability 1/13 each, 10 with 4/13), so
`TabularModel.from_env` and the `dp` agent can plan on it.

One fact is hidden by the observation and left out of the model: a 21 with a usable ace is a
natural (sab: +1 on sticking unless the dealer also has one) when it is the deal, and an
ordinary 21 when it was reached by hitting. `P` gives sticking on it the ordinary 21's reward;
sticking is optimal under both readings, so optimal policies do not depend on it.
"""

from __future__ import annotations

import functools
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.envs.toy_text.blackjack import BlackjackEnv

SHAPE = (32, 11, 2)
"""Blackjack's Tuple observation space: player sum, dealer's showing card, usable ace."""
NUM_STATES = int(np.prod(SHAPE))
STICK, HIT = 0, 1
CARD_PROBS = {**dict.fromkeys(range(1, 10), 1 / 13), 10: 4 / 13}
"""An infinite deck: ace (1) to 9 one in 13 each, the four ten-valued ranks 4 in 13."""
DEALER_STANDS = 17
BUST = 22
"""The dealer's outcome key for a bust."""

Table = dict[int, dict[int, list[tuple[float, int, float, bool]]]]


def flat_state(player_sum: int, dealer_card: int, usable_ace: int) -> int:
    """The Discrete observation of Blackjack's (player sum, dealer card, usable ace)."""
    return int(np.ravel_multi_index((player_sum, dealer_card, usable_ace), SHAPE))


def unflatten(state: int | np.ndarray) -> tuple[Any, Any, Any]:
    """(player sum, dealer card, usable ace) of Discrete observations (inverse of flat_state)."""
    return tuple(np.unravel_index(state, SHAPE))  # type: ignore[return-value]


def player_states() -> list[tuple[int, int, int]]:
    """The book's 200 decision states: sum 12-21 x dealer card 1-10 x usable ace (0, 1)."""
    return [(p, d, u) for u in (0, 1) for p in range(12, 22) for d in range(1, 11)]


def _hand_total(raw: int, has_ace: bool) -> tuple[int, int]:
    """(sum, usable ace) of a hand whose cards add up to `raw` counting aces as 1."""
    if has_ace and raw + 10 <= 21:
        return raw + 10, 1
    return raw, 0


@functools.cache
def dealer_outcomes(raw: int, has_ace: bool) -> dict[int, float]:
    """P(dealer's final sum) from a hand of `raw` (aces as 1): 17-21, or BUST; hits below 17."""
    total, _ = _hand_total(raw, has_ace)
    if total > 21:
        return {BUST: 1.0}
    if total >= DEALER_STANDS:
        return {total: 1.0}
    outcomes: dict[int, float] = {}
    for card, prob in CARD_PROBS.items():
        for final, p in dealer_outcomes(raw + card, has_ace or card == 1).items():
            outcomes[final] = outcomes.get(final, 0.0) + prob * p
    return outcomes


def dealer_final(showing: int) -> dict[int, float]:
    """P(dealer's final sum | showing card): the hidden card is drawn, then hits below 17."""
    outcomes: dict[int, float] = {}
    for card, prob in CARD_PROBS.items():
        raw = showing + card
        for final, p in dealer_outcomes(raw, showing == 1 or card == 1).items():
            outcomes[final] = outcomes.get(final, 0.0) + prob * p
    return outcomes


def stick_reward(player_sum: int, showing: int) -> float:
    """Expected reward of sticking on `player_sum` (<= 21, not a natural) against `showing`."""
    reward = 0.0
    for final, prob in dealer_final(showing).items():
        won = final == BUST or final < player_sum
        reward += prob * (1.0 if won else -1.0 if final > player_sum else 0.0)
    return reward


def hit_outcomes(player_sum: int, usable: int) -> list[tuple[float, int, int]]:
    """(probability, new sum, new usable ace) after one card; a new sum > 21 is a bust.

    A hand without a usable ace and a sum of 11 or less holds no ace (it would be usable), so
    (sum, usable) is all the card needs."""
    raw = player_sum - 10 * usable
    has_ace = bool(usable)
    return [
        (prob, *_hand_total(raw + card, has_ace or card == 1)) for card, prob in CARD_PROBS.items()
    ]


def _decision_rows(player_sum: int, dealer: int, usable: int) -> dict[int, list[Any]]:
    """P[s] of a state where the player decides: stick ends the game, hit draws a card."""
    hits = [
        (prob, flat_state(s2, dealer, u2), -1.0 if s2 > 21 else 0.0, s2 > 21)
        for prob, s2, u2 in hit_outcomes(player_sum, usable)
    ]
    stick = [(1.0, flat_state(player_sum, dealer, usable), stick_reward(player_sum, dealer), True)]
    return {STICK: stick, HIT: hits}


def is_decision_state(player_sum: int, dealer: int, usable: int) -> bool:
    """True for the states a game can be in before it ends (4-21 hard, 12-21 with an ace)."""
    low = 12 if usable else 4
    return low <= player_sum <= 21 and 1 <= dealer <= 10


@functools.cache
def build_table() -> Table:
    """The toy-text table P[s][a] = [(prob, s2, reward, terminated)] of every flat state; the
    states no game reaches (and busts) self-loop with reward 0 and end, like terminal rows."""
    table: Table = {}
    for s in range(NUM_STATES):
        p, d, u = (int(x) for x in unflatten(s))
        if is_decision_state(p, d, u):
            table[s] = _decision_rows(p, d, u)
        else:
            table[s] = {a: [(1.0, s, 0.0, True)] for a in (STICK, HIT)}
    return table


def initial_distribution() -> np.ndarray:
    """(NUM_STATES,) probability of each state after the deal: two player cards, one shown."""
    initial = np.zeros(NUM_STATES)
    for first, p1 in CARD_PROBS.items():
        for second, p2 in CARD_PROBS.items():
            total, usable = _hand_total(first + second, 1 in (first, second))
            for dealer, p3 in CARD_PROBS.items():
                initial[flat_state(total, dealer, usable)] += p1 * p2 * p3
    return initial


def stick_on_20_or_21(num_states: int, num_actions: int) -> np.ndarray:
    """(S, 2) the book's example policy (Example 5.1): stick on 20 or 21, else hit."""
    if (num_states, num_actions) != (NUM_STATES, 2):
        raise ValueError(
            f"stick_on_20_or_21 is a policy of rlkit/Blackjack-v0 ({NUM_STATES} states, 2 "
            f"actions), not of an env with {num_states} states and {num_actions} actions"
        )
    player_sum = unflatten(np.arange(num_states))[0]
    policy = np.zeros((num_states, num_actions))
    policy[np.arange(num_states), np.where(player_sum >= 20, STICK, HIT)] = 1.0
    return policy


class FlatBlackjackEnv(BlackjackEnv):
    """Gymnasium's Blackjack (sab=True: Sutton & Barto's rules) with flat Discrete observations
    and the toy-text table `P`; registered as rlkit/Blackjack-v0."""

    def __init__(self, render_mode: str | None = None, natural: bool = False, sab: bool = True):
        super().__init__(render_mode=render_mode, natural=natural, sab=sab)
        self.observation_space = gym.spaces.Discrete(NUM_STATES)
        self.P = build_table()
        self.initial_state_distrib = initial_distribution()

    def reset(
        self, seed: int | None = None, options: dict[Any, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        """Deal as Gymnasium does; the observation is the flat index."""
        obs, info = super().reset(seed=seed, options=options)
        return flat_state(*obs), info

    def step(self, action: int) -> tuple[int, float, bool, bool, dict[str, Any]]:
        """Stick (0) or hit (1) as Gymnasium does; the observation is the flat index."""
        obs, reward, terminated, truncated, info = super().step(action)
        return flat_state(*obs), float(reward), terminated, truncated, info
