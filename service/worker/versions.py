"""Library versions recorded with each model and selection, so a result can be reproduced."""

from __future__ import annotations

import functools
import importlib.metadata
import platform

import service


def versions() -> dict[str, str]:
    """Library versions recorded with each model, so a result can be reproduced."""
    return dict(_versions())  # a copy: callers may add to it


@functools.cache
def _versions() -> dict[str, str]:
    # From the installed distributions' metadata: importing scikit-learn to read its version cost
    # the web process 1.6 s of start-up, and nothing else there uses it.
    return {
        "sparsefit": service.__version__,
        "python": platform.python_version(),
        **{
            name: _distribution_version(name)
            for name in ("numpy", "numba", "scipy", "scikit-learn", "pyarrow")
        },
    }


def _distribution_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"
