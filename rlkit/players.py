"""Players of two-player board games, matches between them, and games against one.

Players: random, minimax (tic-tac-toe), a human at the terminal, UCT with decisive rollouts, or a
trained run (any agent with `as_player()`). `play_match` is `rlkit eval --player1 ... --player2`;
`make_tictactoe` / `make_connect_four` are the Gymnasium entry points of rlkit/TicTacToe-v0 and
rlkit/ConnectFour-v0, single-agent envs when given an `opponent` player.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import gymnasium as gym
import numpy as np

from rlkit import checkpoint
from rlkit.agent import Agent, EnvSpec, agent_class, build_agent
from rlkit.envs.boardgames import GAMES, BoardGame, ConnectFourEnv, TicTacToeEnv
from rlkit.envs.factory import env_spec, make_vector_env
from rlkit.errors import ConfigError, RlkitError, suggest
from rlkit.experiment import load_experiment

GAME_NAMES = {
    "tictactoe": "rlkit/TicTacToe-v0",
    "tic-tac-toe": "rlkit/TicTacToe-v0",
    "connect_four": "rlkit/ConnectFour-v0",
    "connect4": "rlkit/ConnectFour-v0",
    "connectfour": "rlkit/ConnectFour-v0",
}
PLAYER_SPECS = "random, minimax, human, uct:N (simulations), uct:Xs (seconds), or a run directory"
"""uct:... players search with decisive rollouts (see agents.mcts.UCTConfig.rollout)."""


class Player(Protocol):
    """A player of a two-player board game."""

    name: str

    def reset(self) -> None:
        """A new game starts."""

    def choose(self, game: Any) -> int:
        """The move to play in the live `game` (a SearchModel), which is left as it was found."""


def game_id(name: str) -> str:
    """The Gymnasium id of a board game given by id or short name ("tictactoe", "connect4")."""
    if name in GAMES:
        return name
    key = name.lower()
    if key in GAME_NAMES:
        return GAME_NAMES[key]
    raise ConfigError(
        f"unknown game {name!r}{suggest(key, GAME_NAMES)}; games: tictactoe, connect_four"
    )


def make_game(name: str) -> BoardGame:
    """A fresh pure game (no opponent wrapper) by id or short name."""
    return GAMES[game_id(name)]()


class RandomPlayer:
    """Plays a uniformly random legal move."""

    def __init__(self, seed: int) -> None:
        self.name = "random"
        self.rng = random.Random(seed)

    def reset(self) -> None:
        """Nothing to forget between games."""

    def choose(self, game: Any) -> int:
        return int(self.rng.choice(list(game.legal_actions())))


_SOLVED: dict[tuple[type, Any], float] = {}


def negamax_value(game: BoardGame) -> float:
    """The exact value of the position for the player to move (+1 win, 0 draw, -1 loss)."""
    state = game.clone_state()
    key = (type(game), state)
    value = _SOLVED.get(key)
    if value is not None:
        return value
    best = -2.0
    for move in game.legal_moves():
        reward, done = game.play(move)
        best = max(best, reward if done else -negamax_value(game))
        game.restore_state(state)
        if best == 1.0:
            break
    _SOLVED[key] = best
    return best


class MinimaxPlayer:
    """Perfect play by exhaustive negamax (tic-tac-toe), random among the best moves."""

    def __init__(self, seed: int) -> None:
        self.name = "minimax"
        self.rng = random.Random(seed)

    def reset(self) -> None:
        """Nothing to forget between games."""

    def choose(self, game: Any) -> int:
        state = game.clone_state()
        scored = []
        for move in game.legal_moves():
            reward, done = game.play(move)
            scored.append((reward if done else -negamax_value(game), move))
            game.restore_state(state)
        best = max(score for score, _ in scored)
        return int(self.rng.choice([move for score, move in scored if score == best]))


class HumanPlayer:
    """A person at the terminal: shows the board and asks again on an illegal or unparsable move."""

    def __init__(
        self, ask: Callable[[str], str] = input, show: Callable[[str], None] = print
    ) -> None:
        self.name = "human"
        self.ask, self.show = ask, show

    def reset(self) -> None:
        """Nothing to forget between games."""

    def choose(self, game: Any) -> int:
        legal = [int(a) for a in game.legal_actions()]
        self.show(game.board_text())
        while True:
            try:
                text = self.ask(f"your move {legal}: ").strip()
            except EOFError:
                raise RlkitError("human player: input ended before the game did") from None
            if text.lstrip("-").isdigit() and int(text) in legal:
                return int(text)
            self.show(f"illegal move {text!r}; choose one of {legal}")


def player_from_spec(spec: str, game: str, seed: int) -> Player:
    """A player from its text spec (see PLAYER_SPECS)."""
    if spec == "random":
        return RandomPlayer(seed)
    if spec == "minimax":
        if game_id(game) != "rlkit/TicTacToe-v0":
            raise ConfigError(f"player 'minimax' plays tic-tac-toe only, not {game}")
        return MinimaxPlayer(seed)
    if spec == "human":
        return HumanPlayer()
    if spec.startswith("uct:"):
        return _uct_player(spec, game, seed)
    if Path(spec).exists():
        return _checkpoint_player(Path(spec), game_id(game), seed)
    raise ConfigError(f"unknown player {spec!r}; players: {PLAYER_SPECS}")


def _uct_player(spec: str, game: str, seed: int) -> Player:
    """The registered 'uct' agent's player, with decisive rollouts and the budget of `spec`."""
    budget = spec[4:]
    number = budget.removesuffix("s")
    if not number.replace(".", "", 1).isdigit() or ("." in number and number == budget):
        raise ConfigError(
            f"player {spec!r}: the budget must be whole simulations (uct:1000) or seconds "
            "(uct:0.5s)"
        )
    cls = agent_class("uct")
    try:
        if budget.endswith("s"):
            config = cls.config_class(
                simulations=0, seconds=float(budget[:-1]), rollout="decisive", seed=seed
            )
        else:
            config = cls.config_class(simulations=int(budget), rollout="decisive", seed=seed)
    except ValueError as exc:
        raise ConfigError(f"player {spec!r}: {exc} (e.g. uct:1000 or uct:0.5s)") from None
    return _as_player(build_agent("uct", config, _game_spec(game), seed), spec)


def _checkpoint_player(path: Path, game: str, seed: int) -> Player:
    """The player of a trained agent (a run directory or checkpoint file) via its as_player()."""
    state = checkpoint.load(checkpoint.latest(path))
    experiment = load_experiment(state["config"])
    if experiment.env.id in GAMES and experiment.env.id != game:
        raise ConfigError(f"{path} was trained on {experiment.env.id}; it cannot play {game}")
    envs = make_vector_env(experiment.env, 1, training=False)
    try:
        spec = env_spec(experiment.env, envs)
        agent = build_agent(experiment.agent_name, experiment.agent, spec, seed)
    finally:
        envs.close()
    agent.load_state_dict(state["agent"])
    return _as_player(agent, f"{path}: agent {experiment.agent_name!r}")


def _game_spec(game: str) -> EnvSpec:
    """What an agent is told about a pure board game."""
    pure = make_game(game)
    return EnvSpec(game_id(game), pure.observation_space, pure.action_space, 1)


def _as_player(agent: Agent[Any], what: str) -> Player:
    as_player = getattr(agent, "as_player", None)
    if as_player is None:
        raise ConfigError(f"{what} cannot play board games (no as_player)")
    player: Player = as_player()
    return player


@dataclass(frozen=True)
class MatchResult:
    """Results of a match from the first player's view."""

    wins: int
    draws: int
    losses: int

    @property
    def games(self) -> int:
        return self.wins + self.draws + self.losses

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def play_game(game: BoardGame, players: tuple[Player, Player], seed: int) -> int:
    """Play one game from the start; return +1 if players[0] won, -1 if it lost, 0 for a draw."""
    game.reset(seed=seed)
    for player in players:
        player.reset()
    while True:
        mover = game.to_play()
        move = players[mover].choose(game)
        if move not in game.legal_moves():
            raise RlkitError(f"player {players[mover].name} chose illegal move {move}")
        _, reward, terminated, _, _ = game.step(move)
        if terminated:
            return int(reward) * (1 if mover == 0 else -1)


def play_match(
    game_name: str, first: Player, second: Player, games: int, seed: int, swap: bool = True
) -> MatchResult:
    """Play `games` games (alternating who starts when `swap`); results from `first`'s view."""
    if games < 1:
        raise ConfigError(f"games must be >= 1, got {games}")
    game = make_game(game_name)
    counts = {1: 0, 0: 0, -1: 0}
    for g in range(games):
        if swap and g % 2 == 1:
            counts[-play_game(game, (second, first), seed + g)] += 1
        else:
            counts[play_game(game, (first, second), seed + g)] += 1
    return MatchResult(counts[1], counts[0], counts[-1])


Side = Literal["first", "second", "alternate"]


class VersusOpponent(gym.Wrapper[np.ndarray, int, np.ndarray, int]):
    """A board game against a fixed opponent (a `Player`): a single-agent env.

    The opponent replies inside `step`; the reward is from the agent's view: +1 win, -1 loss (or
    an illegal move), 0 draw. This layer does not implement the model protocol: planners search
    the pure game inside it.
    """

    def __init__(self, game: BoardGame, opponent: str, agent_player: Side, game_id: str) -> None:
        super().__init__(game)
        if agent_player not in ("first", "second", "alternate"):
            raise ConfigError(
                f"agent_player must be 'first', 'second' or 'alternate', got {agent_player!r}"
            )
        self.game, self.spec_text, self.game_id = game, opponent, game_id
        self.agent_player = agent_player
        self.opponent = player_from_spec(opponent, game_id, 0)
        self.games = 0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        obs, info = self.game.reset(seed=seed, options=options)
        if seed is not None:
            self.opponent = player_from_spec(self.spec_text, self.game_id, seed)
        self.opponent.reset()
        second = self.agent_player == "second" or (
            self.agent_player == "alternate" and self.games % 2 == 1
        )
        self.games += 1
        if second:
            obs, _, _, _, info = self.game.step(self.opponent.choose(self.game))
        return obs, info

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.game.step(action)
        if terminated:
            return obs, float(reward), True, truncated, info
        obs, reply, terminated, truncated, info = self.game.step(self.opponent.choose(self.game))
        return obs, -float(reply), terminated, truncated, info


def make_tictactoe(
    render_mode: str | None = None, opponent: str | None = None, agent_player: Side = "first"
) -> gym.Env[np.ndarray, int]:
    """Tic-tac-toe; with `opponent` ("random", "minimax", "uct:N"), a single-agent env."""
    game = TicTacToeEnv(render_mode)
    if opponent is None:
        return game
    return VersusOpponent(game, opponent, agent_player, "rlkit/TicTacToe-v0")


def make_connect_four(
    render_mode: str | None = None, opponent: str | None = None, agent_player: Side = "first"
) -> gym.Env[np.ndarray, int]:
    """Connect Four; with `opponent` ("random", "uct:N", ...), a single-agent env."""
    game = ConnectFourEnv(render_mode)
    if opponent is None:
        return game
    return VersusOpponent(game, opponent, agent_player, "rlkit/ConnectFour-v0")


__all__ = [
    "GAME_NAMES",
    "HumanPlayer",
    "MatchResult",
    "MinimaxPlayer",
    "Player",
    "RandomPlayer",
    "VersusOpponent",
    "game_id",
    "make_connect_four",
    "make_game",
    "make_tictactoe",
    "negamax_value",
    "play_match",
    "player_from_spec",
]
