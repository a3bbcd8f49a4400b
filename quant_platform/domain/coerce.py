"""Two conversions every layer needs, written once: a value as a float, an error as one line."""

from __future__ import annotations

import math


def as_float(value: object) -> float:
    """`value` as a float; NaN when it is missing or not a number (metrics may be either)."""
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, or its type name when the message is empty.

    Driver errors (psycopg, redis) span several lines; logs and UI notes want one.
    """
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
