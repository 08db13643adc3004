"""`rlkit sweep`: many runs of one experiment (a grid of settings x seeds) on this machine's
processes or on Ray, continued by re-running the command; `rlkit report` and `rlkit plot` on a
sweep directory aggregate them over seeds (rlkit.stats)."""
