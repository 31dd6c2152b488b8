"""ChangeNotifier: wakes every coroutine waiting on a job when that job's record changes."""

from __future__ import annotations

import asyncio


class ChangeNotifier:
    """One asyncio.Event per job generation: `listen` before reading state, then wait on it."""

    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}

    def listen(self, key: str) -> asyncio.Event:
        """The event that the next `notify(key)` sets; take it before reading the state it guards."""
        event = self._events.get(key)
        if event is None:
            event = self._events[key] = asyncio.Event()
        return event

    def notify(self, key: str) -> None:
        event = self._events.pop(key, None)
        if event is not None:
            event.set()
