"""The error a selection procedure raises for a bad argument: a 422 problem that is also a ValueError."""

from __future__ import annotations

import math

from service.errors import ValidationError


class ArgumentError(ValidationError, ValueError):
    """A procedure's argument out of range; ``field`` is the request field it comes from.

    A ValidationError so the service answers 422 naming the field, a ValueError so callers of the
    pure function (tests, notebooks) catch it the way numpy and scikit-learn teach them to.
    """

    def __init__(self, field: str, message: str) -> None:
        loc = ["body", *field.split(".")]
        super().__init__(f"{field}: {message}", errors=[{"loc": loc, "msg": message, "type": "value_error"}])
        self.field = field
        self.message = message

    def __reduce__(self) -> tuple[type[ArgumentError], tuple[str, str]]:
        # Raised in a worker process, it is pickled back to the job manager whole.
        return type(self), (self.field, self.message)


def check_positive_int(value: int, field: str, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ArgumentError(field, f"must be an integer of at least {minimum}")


def check_open_unit(value: float, field: str, low: float = 0.0, high: float = 1.0) -> None:
    """``value`` lies strictly between ``low`` and ``high``."""
    if not (math.isfinite(value) and low < value < high):
        raise ArgumentError(field, f"must lie in ({low:g}, {high:g})")
