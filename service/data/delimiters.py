"""CSV delimiters: the one a body uses (given, or told by its header when that is unambiguous)."""

from __future__ import annotations

import re

from service.data.table import quote, short
from service.errors import InvalidDatasetError

COMMA = ","
# What ?delimiter= accepts, besides the comma; "tab" spells a tab that a URL cannot show.
OTHER_DELIMITERS = (";", "\t", "|")
DELIMITERS = (COMMA, *OTHER_DELIMITERS)
NAMES = {"tab": "\t"}
_BOM = "\ufeff"
# A quoted name, its doubled quotes included (RFC 4180): what it holds separates nothing.
_QUOTED = re.compile(r'"(?:[^"]|"")*"')
_SHOWN = {",": "','", ";": "';'", "\t": "a tab", "|": "'|'"}
_QUERY_VALUE = {",": "%2C", ";": "%3B", "\t": "tab", "|": "%7C"}


def header_line(body: bytes) -> str:
    """The body's first line as text (no BOM, no line end); undecodable bytes are replaced."""
    end = body.find(b"\n")
    line = body if end < 0 else body[:end]
    return line.removesuffix(b"\r").decode("utf-8", errors="replace").removeprefix(_BOM)


def detect(body: bytes) -> str:
    """The delimiter the header shows, conservatively: a header that, outside its quoted names,
    holds no comma and exactly one of ``;``, tab and ``|`` is separated by it (R's ``write.csv2``
    writes ``"a";"b";"y"``); any other is comma-separated.

    A guess beyond that (a header with a comma and a semicolon, or two candidates) could split a
    table wrongly without a word; it is left to :func:`check_header`, which refuses what looks like
    a missed delimiter rather than storing it as one column.
    """
    header = _QUOTED.sub("", header_line(body))
    if COMMA in header or '"' in header:  # a quote left over is unbalanced: no guess
        return COMMA
    found = [candidate for candidate in OTHER_DELIMITERS if candidate in header]
    return found[0] if len(found) == 1 else COMMA


def choose(body: bytes, given: str | None) -> str:
    """The delimiter of ``body``: ``given`` (already one of :data:`DELIMITERS` or a name), else detected."""
    if given is None:
        return detect(body)
    return NAMES.get(given, given)


def check_header(names: list[str], delimiter: str) -> None:
    """A one-column header whose name holds another delimiter is a 422 that suggests ?delimiter=.

    Such a table is almost always a file read with the wrong separator (``a;b;y`` as one column);
    stored, it would fail only later, at a fit, with a puzzling "no column named a".
    """
    if len(names) != 1:
        return
    inside = [c for c in DELIMITERS if c != delimiter and c in names[0]]
    if not inside:
        return
    held = " and ".join(_SHOWN[c] for c in inside)
    if len(inside) == 1:
        advice = f"if that separates the fields, send ?delimiter={_QUERY_VALUE[inside[0]]}"
    else:
        advice = "send ?delimiter= with the one that separates the fields (, ; | or tab)"
    raise InvalidDatasetError(
        f"the header is one column, {quote(names[0])}, which holds {held}: {advice}",
        column=short(names[0]),
        field="delimiter",
    )
