"""Bundled experiment files (TOML), installed as rlkit.experiments."""
