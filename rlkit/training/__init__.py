"""Training: the run session every loop runs in, the runner's step loop, and the entry points
(train, resume, evaluate a run directory), with the logger and env-state capture they use."""
