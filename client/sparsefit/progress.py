"""Progress displays for a running job: a tqdm bar when tqdm is installed, plain lines otherwise."""

from __future__ import annotations

import sys
from typing import Any, Protocol, TextIO

from sparsefit.optional import optional


class Progress(Protocol):
    def update(self, fraction: float, stage: str, message: str | None) -> None: ...

    def close(self) -> None: ...


class Silent:
    def update(self, fraction: float, stage: str, message: str | None) -> None:
        return None

    def close(self) -> None:
        return None


class Bar:
    """A tqdm bar from 0 to 100 %, described by the job's stage and its message."""

    def __init__(self, tqdm: Any, title: str, stream: TextIO) -> None:
        self._bar = tqdm(
            total=100,
            desc=title,
            file=stream,
            # tqdm writes `desc` followed by ": " itself.
            bar_format="{desc}{percentage:3.0f}%|{bar}| {elapsed}{postfix}",
            leave=True,
        )
        self._title = title

    def update(self, fraction: float, stage: str, message: str | None) -> None:
        self._bar.n = round(100 * min(max(fraction, 0.0), 1.0), 1)
        self._bar.set_description(f"{self._title} {stage}", refresh=False)
        self._bar.set_postfix_str(message or "", refresh=False)
        self._bar.refresh()

    def close(self) -> None:
        self._bar.close()


class Lines:
    """Without tqdm: one line each time the stage changes or another tenth of the work is done."""

    def __init__(self, title: str, stream: TextIO) -> None:
        self._title, self._stream = title, stream
        self._last: tuple[str, int] | None = None

    def update(self, fraction: float, stage: str, message: str | None) -> None:
        shown = (stage, int(10 * fraction))
        if shown == self._last:
            return
        self._last = shown
        suffix = f" ({message})" if message else ""
        print(f"{self._title} {stage}: {100 * fraction:3.0f}%{suffix}", file=self._stream, flush=True)

    def close(self) -> None:
        return None


def progress_display(enabled: bool, title: str, stream: TextIO | None = None) -> Progress:
    """What `progress=True` shows: a tqdm bar when tqdm is installed, plain lines otherwise."""
    if not enabled:
        return Silent()
    out = stream if stream is not None else sys.stderr
    tqdm = optional("tqdm")
    return Bar(tqdm.tqdm, title, out) if tqdm is not None else Lines(title, out)
