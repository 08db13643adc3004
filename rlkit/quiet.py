"""Quiet success: the libraries rlkit drives print nothing harmless unless asked (`--verbose`).

`silence_libraries` decides, once, at CLI start-up. Its decision travels as environment
variables, so that processes rlkit starts (sweep runs, GA workers under forkserver) inherit it:
- SDL (pygame, used by Gymnasium's rgb_array renderers): the dummy video and audio drivers. rlkit
  never opens a window (rlkit.envs.factory refuses screen render modes) and plays no sound, and
  without them SDL's display init tries Wayland, whose client library prints "error:
  XDG_RUNTIME_DIR is invalid or not set in the environment." when there is no session (a server,
  `rlkit eval RUN --video`). Drawing into a pygame Surface, as rgb_array does, needs no real driver.
- pygame's "Hello from the pygame community" prompt (Gymnasium hides it too, but only when it is
  imported before pygame).
- ALE's start-up banner ("A.L.E: Arcade Learning Environment ... [Powered by Stella]"), printed
  by every `ale_py.ALEInterface()` made before its logger is turned down: ALE reads no
  environment variable, so `RLKIT_QUIET=1` records the decision and `quiet_ale` (called by
  rlkit.envs.atari when it imports ale_py) applies it. Importing ale_py here instead would cost
  `rlkit list` and `rlkit --help` about 0.3 s.
A variable the user has already set is left as it is, and errors still come through: the ALE
logger keeps its Error level, and stderr itself is never redirected.
"""

from __future__ import annotations

import os
import sys

QUIET_ENV = "RLKIT_QUIET"
"""Set to "1" by `silence_libraries()`: library noise stays off here and in child processes."""

_LIBRARY_DEFAULTS = {
    "PYGAME_HIDE_SUPPORT_PROMPT": "1",
    "SDL_VIDEODRIVER": "dummy",
    "SDL_AUDIODRIVER": "dummy",
}


def silence_libraries(verbose: bool = False) -> None:
    """Turn off harmless library noise for this process and the processes it starts, unless
    `verbose`. Call it before any env is made: the variables are read when SDL's display is
    initialised and when pygame is imported."""
    if verbose:
        os.environ.pop(QUIET_ENV, None)  # a quiet parent's setting must not outlive --verbose
        return
    for name, value in _LIBRARY_DEFAULTS.items():
        os.environ.setdefault(name, value)
    os.environ[QUIET_ENV] = "1"
    if "ale_py" in sys.modules:  # already imported: rlkit.envs.atari's call has come and gone
        quiet_ale()


def quiet_ale() -> None:
    """Turn ALE's logger down to errors when `silence_libraries()` asked for quiet; a no-op
    otherwise (library use keeps ale-py's defaults). For modules that have imported ale_py."""
    if os.environ.get(QUIET_ENV) != "1":
        return
    import ale_py

    ale_py.ALEInterface.setLoggerMode(ale_py.LoggerMode.Error)
