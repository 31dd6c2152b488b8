"""What every request schema shares: unknown fields refused, and numbers that must be JSON numbers."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict
from pydantic_core import PydanticCustomError


def _integer_not_text(value: object) -> object:
    # Lax pydantic reads "10" (and true) as an integer; a request must send a JSON number. An integral
    # float (10.0) stays accepted: JSON Schema counts it as an integer.
    if isinstance(value, str | bool):
        raise PydanticCustomError("int_type", "Input should be a valid integer, not a string or boolean")
    return value


# Numbers in a request are JSON numbers: `"alpha": "0.1"` is a 422 naming the field, not 0.1. Floats
# are pydantic-strict, which still takes an integer (`"alpha": 1`); integers go through the check above.
NUMBER_ONLY = BeforeValidator(_integer_not_text)
JsonInt = Annotated[int, NUMBER_ONLY]


class Strict(BaseModel):
    """Unknown fields are errors: a typo must not silently fall back to a default."""

    model_config = ConfigDict(extra="forbid")
