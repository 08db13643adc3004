"""`rlkit list`: the bundled experiments, the agents and the environments, for people.

Experiments come first (what a newcomer runs), grouped by their agent's family, each with its
target and the time it takes as shipped; then the agents; then the environments by kind, only
those whose dependencies are installed, the others named once with how to install them. A
PATTERN (a case-insensitive substring) filters each section, and shows the experiments'
descriptions whole.
"""

from __future__ import annotations

import shutil
import textwrap
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from rlkit.errors import RlkitError

SECTIONS = ("experiments", "agents", "envs")


@dataclass(frozen=True)
class ExperimentRow:
    """One bundled experiment as `rlkit list` shows it."""

    name: str
    agent: str
    family: tuple[int, str]
    target: str
    time: str
    description: str


def listing(section: str | None, pattern: str | None, width: int | None = None) -> list[str]:
    """The lines `rlkit list [SECTION] [PATTERN]` prints (every section when None)."""
    if section is not None and section not in SECTIONS:
        raise RlkitError(f"list: unknown section {section!r}; give one of {', '.join(SECTIONS)}")
    width = width or max(shutil.get_terminal_size((100, 24)).columns, 60)
    needle = (pattern or "").lower()
    builders = {"experiments": _experiments, "agents": _agents, "envs": _envs}
    lines: list[str] = []
    for name in SECTIONS if section is None else (section,):
        part = builders[name](needle, width)
        if part:
            lines += ([""] if lines else []) + part
    if not lines:
        where = section or "experiments, agents or environments"
        raise RlkitError(
            f"list: no {where} match {pattern!r}{_not_installed(section)}; `rlkit list` shows "
            "them all"
        )
    return lines


def _not_installed(section: str | None) -> str:
    """For a search that found nothing: the environment kinds this machine lacks."""
    from rlkit.envs.catalog import KINDS

    if section not in (None, "envs"):
        return ""
    missing = [kind.label for kind in KINDS if not kind.installed()]
    return f" (not installed here: {', '.join(missing)})" if missing else ""


def experiment_rows() -> list[ExperimentRow]:
    """Every bundled experiment with its family, target and expected time."""
    from rlkit.agent import agent_class
    from rlkit.experiment import bundled_experiments, load_experiment

    rows = []
    for name in sorted(bundled_experiments()):
        exp = load_experiment(name)
        target = f">= {exp.target:g}" if exp.target is not None else exp.expect.goal
        family = agent_class(exp.agent_name).family
        took = exp.expect.time_text(compact=True)
        rows.append(ExperimentRow(name, exp.agent_name, family, target, took, exp.description))
    return rows


def _experiments(needle: str, width: int) -> list[str]:
    rows = [
        r
        for r in experiment_rows()
        if not needle or needle in f"{r.name} {r.agent} {r.family[1]} {r.description}".lower()
    ]
    if not rows:
        return []
    by_family: dict[tuple[int, str], list[ExperimentRow]] = defaultdict(list)
    for row in rows:
        by_family[row.family].append(row)
    name_w = max(len(r.name) for r in rows)
    target_w = max(len("target"), *(len(r.target) for r in rows))
    time_w = max(len("time"), *(len(r.time) for r in rows))
    lines = textwrap.wrap(
        "EXPERIMENTS: rlkit run NAME (time: the whole run as shipped on 2 CPU cores, measured or"
        " extrapolated from a measured speed; target: a greedy evaluation's mean return)",
        width,
        subsequent_indent="    ",
    )
    lines.append(f"  {'':<{name_w}}  {'target':<{target_w}}  {'time':<{time_w}}  description")
    indent = 2 + name_w + 2 + target_w + 2 + time_w + 2
    for family in sorted(by_family):
        lines.append(f"{family[1]}:")
        for r in by_family[family]:
            head = f"  {r.name:<{name_w}}  {r.target:<{target_w}}  {r.time:<{time_w}}  "
            lines += _describe(head, r.description, indent, width, whole=bool(needle))
    return lines


def _describe(head: str, text: str, indent: int, width: int, whole: bool) -> list[str]:
    """`head` then `text`: cut to one line of `width`, or (`whole`) wrapped under itself."""
    room = max(width - indent, 20)
    if not whole:
        return [head + (text if len(text) <= room else text[: room - 3] + "...")]
    wrapped = textwrap.wrap(text, room) or [""]
    return [head + wrapped[0], *(" " * indent + line for line in wrapped[1:])]


def _agents(needle: str, width: int) -> list[str]:
    from rlkit.agent import registered_agents

    agents = sorted(
        (cls.family, name, (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else "")
        for name, cls in registered_agents().items()
    )
    rows = [a for a in agents if not needle or needle in f"{a[1]} {a[0][1]} {a[2]}".lower()]
    if not rows:
        return []
    name_w = max(len(name) for _, name, _ in rows)
    family_w = max(len(family[1]) for family, _, _ in rows)
    lines = ["AGENTS: agent.name in an experiment's [agent] table"]
    for family, name, doc in rows:
        head = f"  {name:<{name_w}}  {family[1]:<{family_w}}  "
        lines += _describe(head, doc, len(head), width, whole=bool(needle))
    return lines


def _envs(needle: str, width: int) -> list[str]:
    from rlkit.envs.catalog import KINDS, atari_games, kinds_of
    from rlkit.envs.factory import known_env_ids

    grouped = kinds_of(known_env_ids())
    lines = ["ENVIRONMENTS: env.id in an experiment's [env] table (installed kinds only)"]
    for kind in KINDS:
        ids = [i for i in grouped[kind] if not needle or needle in i.lower()]
        if not kind.installed() or not ids:
            continue
        if kind.label == "atari" and not needle:  # 350 ids: the games, once
            games = atari_games(ids)
            lines += _wrapped(
                f"  atari ({len(games)} games, ROMs included): ALE/<Game>-v5 (also "
                "<Game>-v4, <Game>NoFrameskip-v4)",
                games,
                width,
            )
        else:
            lines += _wrapped(f"  {kind.label} ({len(ids)})", ids, width)
    missing = [f"{k.label}: {k.install}" for k in KINDS if not k.installed()]
    if missing and not needle:
        lines += _wrapped("  not installed", missing, width, sep="; ")
    return lines if len(lines) > 1 else []


def _wrapped(head: str, items: Iterable[str], width: int, sep: str = ", ") -> list[str]:
    """`head:` then the items, wrapped at `width` under an indent."""
    return textwrap.wrap(
        sep.join(items),
        width,
        initial_indent=head + ": ",
        subsequent_indent="      ",
        break_on_hyphens=False,
        break_long_words=False,
    )
