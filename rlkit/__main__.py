"""`python -m rlkit` is the `rlkit` command."""

import signal
import sys

held: list[int] = []
"""A Ctrl-C during start-up (imports) is held here until main() can report it in one line."""
signal.signal(signal.SIGINT, lambda signum, frame: held.append(signum))

from rlkit.cli import main  # noqa: E402 - after the handler

sys.exit(main(held_interrupts=held))
