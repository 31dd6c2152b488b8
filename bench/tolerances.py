"""Tolerance as a dimension of a cell: each library's list of points, parsed, labelled and ordered."""

from __future__ import annotations

import argparse

from bench.peers.base import LIBRARIES
from bench.report import compact

DEFAULT = "default"  # the library called without a tol: its own default


def label(text: str) -> str:
    """``default``, or the tol as a canonical number (``1e-10``); rejects anything else."""
    text = text.strip()
    if text == DEFAULT:
        return DEFAULT
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"tol {text!r}: a number or {DEFAULT!r}") from exc
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"tol {text!r}: must be in (0, 1)")
    return compact(value)


def value(lib: str, tol: str) -> float:
    """The number a point runs at: for ``default``, the library's documented default."""
    return LIBRARIES[lib].default_tol if tol == DEFAULT else float(tol)


def ordered(lib: str, tols: list[str]) -> tuple[str, ...]:
    """Loose to tight without repeats (the same number twice, or default and its number, run once)."""
    unique: dict[float, str] = {}
    for tol in tols:
        unique.setdefault(value(lib, tol), tol)
    return tuple(unique[number] for number in sorted(unique, reverse=True))


def parse_option(item: str) -> tuple[str, list[str]]:
    """One ``--tols LIB=TOL,TOL,...`` argument."""
    name, sep, listed = item.partition("=")
    if not sep or name not in LIBRARIES:
        raise argparse.ArgumentTypeError(f"--tols {item}: expected LIB=TOL,... with LIB in {list(LIBRARIES)}")
    tols = [label(text) for text in listed.split(",") if text.strip()]
    if not tols:
        raise argparse.ArgumentTypeError(f"--tols {item}: no tolerance given")
    return name, tols


def per_library(options: list[tuple[str, list[str]]]) -> dict[str, tuple[str, ...]]:
    """Every library's points: its registry defaults, replaced by any ``--tols`` given for it."""
    chosen = {name: list(lib.tols) for name, lib in LIBRARIES.items()}
    chosen.update(dict(options))
    return {name: ordered(name, tols) for name, tols in chosen.items()}


def blocked(tol_value: float, capped: list[float]) -> bool:
    """A tighter tol costs at least as much: skip it once a looser or equal one hit the cap."""
    return any(other >= tol_value for other in capped)
