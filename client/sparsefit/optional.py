"""The optional libraries (pandas, numpy, scipy, tqdm), imported only when present and first needed."""

from __future__ import annotations

import importlib
import sys
from functools import cache
from typing import Any


@cache
def optional(name: str) -> Any | None:
    """The module ``name``, or None when it is not installed.

    Typed as Any on purpose: pandas ships no type information, and the client must type-check and run
    whether or not each extra is installed.
    """
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def require(name: str, extra: str) -> Any:
    """The module ``name``; an ImportError naming the extra to install otherwise."""
    module = optional(name)
    if module is None:
        raise ImportError(f"this needs {name}: pip install 'sparsefit-client[{extra}]'")
    return module


def is_frame(value: object) -> bool:
    pandas = _loaded("pandas")
    return pandas is not None and isinstance(value, pandas.DataFrame)


def is_series(value: object) -> bool:
    pandas = _loaded("pandas")
    return pandas is not None and isinstance(value, pandas.Series)


def is_ndarray(value: object) -> bool:
    numpy = _loaded("numpy")
    return numpy is not None and isinstance(value, numpy.ndarray)


def is_sparse(value: object) -> bool:
    # Checked by module name first: importing scipy only to learn that a value is not one of its
    # matrices would cost a second on every call.
    if not type(value).__module__.startswith("scipy.sparse"):
        return False
    sparse = optional("scipy.sparse")
    return sparse is not None and bool(sparse.issparse(value))


def _loaded(name: str) -> Any | None:
    # A value can only be a pandas frame if pandas is already imported: no import just to ask.
    return sys.modules.get(name)
