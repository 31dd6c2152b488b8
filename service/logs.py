"""Log set-up: one format for every logger (text for humans, or JSON lines) and the context fields."""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
import os
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal

# Standard library only: the web process, the forkserver and every job process import this module,
# and a job process must not load the web stack (see the import-linter contracts in pyproject).

LogFormat = Literal["text", "json"]
FORMAT_VARIABLE = "SPARSEFIT_LOG_FORMAT"
LEVEL_VARIABLE = "SPARSEFIT_LOG_LEVEL"
# The fields a log line carries from its context, in the order a JSON line writes them.
CONTEXT_FIELDS = ("request_id", "tenant", "job_id", "model_id", "dataset_id")
# What ``extra=`` may add to a line. A closed list, not every attribute a record has: a field that
# nobody chose (an object's repr, a header) cannot reach the log by accident.
EXTRA_FIELDS = (
    *CONTEXT_FIELDS,
    "method",
    "path",
    "status",
    "duration_ms",
    "event",
    "job_status",
    "problem",
    "rows",
    "columns",
    "storage",
    "client",
)

# The fields of the request or job being served. A request's dict is shared, not copied, by the
# threads its work runs in (they get a copy of the context, holding the same dict), so the tenant,
# known only once the key is checked in one of those threads, still reaches the access line.
_context: ContextVar[dict[str, str] | None] = ContextVar("sparsefit_log_context", default=None)


def bind(**fields: str | None) -> dict[str, str]:
    """Start a new context (a request's, a job's) holding ``fields``; returns its dict."""
    values = {name: value for name, value in fields.items() if value is not None}
    _context.set(values)
    return values


def add_fields(**fields: str | None) -> None:
    """Add ``fields`` to the current context, if there is one (the tenant, once authenticated)."""
    values = _context.get()
    if values is not None:
        values.update({name: value for name, value in fields.items() if value is not None})


@contextlib.contextmanager
def bound(**fields: str | None) -> Iterator[dict[str, str]]:
    """A context holding ``fields`` (on top of the current one's) for the ``with`` block."""
    outer = _context.get() or {}
    token = _context.set({**outer, **{n: v for n, v in fields.items() if v is not None}})
    try:
        yield _context.get() or {}
    finally:
        _context.reset(token)


def current() -> dict[str, str]:
    """The current context's fields (a copy)."""
    return dict(_context.get() or {})


class ContextFilter(logging.Filter):
    """Copies the context fields onto every record; a field given with ``extra=`` is kept as given."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in (_context.get() or {}).items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


def rfc3339(created: float) -> str:
    """A record's time in RFC 3339, UTC, to the millisecond: ``2026-12-07T10:55:17.123Z``."""
    return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    # The record's __dict__, not getattr: extra= and the context filter set instance attributes only.
    attributes = record.__dict__
    return {name: attributes[name] for name in EXTRA_FIELDS if attributes.get(name) is not None}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, then the context and extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": rfc3339(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **_fields(record),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        # default=str: a field that is not JSON (a Path, an enum) is written as text, never dropped
        # with the rest of the line.
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``time LEVEL logger: message key=value ...``: the context fields after the message, for a
    terminal (the message itself says what the other fields do, a duration or a status)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = {name: value for name, value in _fields(record).items() if name in CONTEXT_FIELDS}
        if not fields:
            return text
        head, newline, rest = text.partition("\n")  # after the message, before any traceback
        pairs = " ".join(f"{name}={value}" for name, value in fields.items())
        return f"{head} {pairs}{newline}{rest}"


def log_format(value: str | None) -> LogFormat:
    """``json`` or ``text`` (the default, also for an unknown value: logs must never stop a start)."""
    return "json" if (value or "").strip().lower() == "json" else "text"


def configure(fmt: str | None, level: str | int = "INFO") -> None:
    """Route every logger (uvicorn's included) to one stderr handler in ``fmt``.

    The handler carries the context filter, so a record from any logger gets the request's or
    job's fields. uvicorn's own handlers are removed: its loggers then reach this one through the
    root logger, in the same format. Its access logger is silenced: the RequestContext middleware
    writes the access line, with the request id and tenant, which uvicorn's does not know.
    """
    # The logging HOWTO's "Optimization": every request writes an access line, and no format here
    # prints a record's caller (found by walking the stack), thread or process: 40% of a line's cost.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format(fmt) == "json" else TextFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.asgi"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate = False
    # A Python warning (a library's deprecation, a numerical one) becomes a line in this format too,
    # not free text among JSON lines.
    logging.captureWarnings(True)
    # The environment carries the choice to the forkserver and the job processes it forks.
    os.environ[FORMAT_VARIABLE] = log_format(fmt)
    os.environ[LEVEL_VARIABLE] = logging.getLevelName(root.level).lower()


def configure_from_environment() -> None:
    """In a worker process: the web process's format and level, from the environment it passed on."""
    configure(os.environ.get(FORMAT_VARIABLE), os.environ.get(LEVEL_VARIABLE, "info"))


def configure_job_process(**fields: str | None) -> None:
    """In a job process: log as the web process does, every line naming the job (``fields``).

    Only in a child process: run in the web process itself (tests call the entry point directly)
    it would replace that process's handlers.
    """
    if multiprocessing.parent_process() is None:
        return
    configure_from_environment()
    bind(**fields)
