"""User-facing errors: the CLI prints them as one line and exits with code 2 (3: storage)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class RlkitError(Exception):
    """A problem with the user's input: printed without a traceback, exit code 2."""


class ConfigError(RlkitError):
    """A bad experiment file, override or config value."""


class SpaceError(RlkitError):
    """An agent was given observation or action spaces it cannot handle."""


class NonFiniteLossError(RlkitError):
    """A loss became NaN or infinite; training stops without saving over good checkpoints."""


class CheckpointError(RlkitError):
    """A checkpoint or run directory is missing, corrupt or incompatible."""


class StorageError(RlkitError):
    """The run directory could not be written (disk full, read-only, permission denied, a path
    that cannot be made). What was saved before is intact. The CLI exits with code 3."""


def suggest(word: str, choices: Iterable[str]) -> str:
    """Return a ' (did you mean ...?)' hint naming the closest choices, or ''."""
    close = difflib.get_close_matches(word, list(choices), n=3, cutoff=0.6)
    if not close:
        return ""
    return " (did you mean " + " or ".join(repr(c) for c in close) + "?)"


def one_of(choices: Iterable[str]) -> str:
    """Format valid choices for an error message."""
    return ", ".join(sorted(choices))
