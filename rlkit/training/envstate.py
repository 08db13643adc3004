"""Snapshots of pure-Python env state (toy text, classic control), for exact resume.

Each wrapper layer's plain attributes (numbers, arrays, tuples of numbers, random generators)
are captured and later set back. Envs with native state (Atari) or in other processes (async
vector envs) cannot be captured: `capture` returns None and a resumed run resets them.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import SyncVectorEnv, VectorEnv

from rlkit.envs.paired import PairedVectorEnv

_SKIP = {"env", "spec", "_cached_spec", "_saved_kwargs", "metadata", "_metadata", "P"}
_SCALARS = (bool, int, float, str, type(None), np.generic)


def _sub_envs(envs: VectorEnv[Any, Any, Any]) -> list[gym.Env[Any, Any]] | None:
    """The sub-envs of a sync vector env, or of a paired env of two; None for any other."""
    if isinstance(envs, SyncVectorEnv):
        return list(envs.envs)
    if isinstance(envs, PairedVectorEnv):
        halves = [_sub_envs(half) for half in envs.halves]
        return None if None in halves else [env for half in halves for env in half or []]
    return None


def capture(envs: VectorEnv[Any, Any, Any]) -> list[list[dict[str, Any]]] | None:
    """Per sub-env, per wrapper layer, the attributes that make up its state."""
    sub_envs = _sub_envs(envs)
    if sub_envs is None:
        return None
    return [[_capture_layer(layer) for layer in _layers(env)] for env in sub_envs]


def restore(envs: VectorEnv[Any, Any, Any], snapshot: list[list[dict[str, Any]]]) -> None:
    """Set back what `capture` took; the env stack must be built the same way."""
    sub_envs = _sub_envs(envs)
    assert sub_envs is not None
    for env, layers in zip(sub_envs, snapshot, strict=True):
        for layer, attrs in zip(_layers(env), layers, strict=True):
            for name, value in attrs.items():
                setattr(layer, name, _decode(value))


def _layers(env: gym.Env[Any, Any]) -> list[Any]:
    layers: list[Any] = [env]
    while isinstance(layers[-1], gym.Wrapper):
        layers.append(layers[-1].env)
    return layers


def _capture_layer(layer: Any) -> dict[str, Any]:
    out = {}
    for name, value in vars(layer).items():
        if name in _SKIP:
            continue
        encoded = _encode(value)
        if encoded is not _UNSUPPORTED:
            out[name] = encoded
    return out


_UNSUPPORTED = object()


def _encode(value: Any) -> Any:
    if isinstance(value, np.random.Generator):
        return {"__generator__": value.bit_generator.state}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        return value.copy()
    if isinstance(value, tuple | list) and all(isinstance(v, _SCALARS) for v in value):
        return type(value)(v.item() if isinstance(v, np.generic) else v for v in value)
    return _UNSUPPORTED


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and "__generator__" in value:
        state = value["__generator__"]
        generator = np.random.Generator(getattr(np.random, state["bit_generator"])())
        generator.bit_generator.state = state
        return generator
    return value
