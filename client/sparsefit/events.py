"""Server-Sent Events: read a job's `progress` and `status` events from a streamed answer."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Event:
    """One dispatched event: its name (`message` when the stream gave none) and its data lines."""

    name: str
    data: str

    def json(self) -> Any:
        return json.loads(self.data)


def read_events(lines: Iterable[str]) -> Iterator[Event]:
    """The events of an event stream, given its lines without their line endings.

    As the WHATWG parsing rules say: a blank line dispatches, a line starting with `:` is a comment
    (the service's keep-alives), `field: value` with one optional space after the colon, several
    `data` lines joined by newlines, and an event without data is dropped.
    """
    name, data = "", list[str]()
    for raw in lines:
        line = raw.rstrip("\r")
        if not line:
            if data:
                yield Event(name or "message", "\n".join(data))
            name, data = "", list[str]()
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "event":
            name = value
        elif field == "data":
            data.append(value)
    # An event cut off before its blank line is dropped, as the rules say: its data may be partial.
