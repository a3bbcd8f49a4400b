"""Input validation shared by the analytics modules.

Every public function funnels its inputs through these helpers so degenerate
data (wrong shape, too few points, non-finite values, constant series) fails
loudly with one exception type instead of producing a plausible wrong number.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

ArrayLike = np.ndarray | pd.Series | list[float] | tuple[float, ...]


class AnalyticsError(ValueError):
    """Input cannot give a meaningful statistic (too short, constant, non-finite, ...)."""


def as_1d(x: Any, name: str = "x") -> np.ndarray:
    """Return `x` as a 1-d float64 array (a view when possible, never modified).

    Raises:
        AnalyticsError: not convertible to float, or not one-dimensional.
    """
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise AnalyticsError(f"{name}: not convertible to float ({exc})") from exc
    if arr.ndim != 1:
        raise AnalyticsError(f"{name}: expected a 1-d series, got shape {arr.shape}")
    return arr


def finite_1d(x: Any, name: str = "x", min_len: int = 1) -> np.ndarray:
    """1-d float array that must be all finite and at least `min_len` long.

    Raises:
        AnalyticsError: shorter than `min_len`, or NaN/inf values.
    """
    arr = as_1d(x, name)
    if arr.size < min_len:
        raise AnalyticsError(f"{name}: need at least {min_len} points, got {arr.size}")
    if not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).sum())
        raise AnalyticsError(f"{name}: {bad} non-finite value(s) (NaN/inf); clean or align first")
    return arr


def same_length(a: np.ndarray, b: np.ndarray, names: str = "y, x") -> None:
    """Both arrays have one shape; the message names them (`names`, e.g. "y, x").

    Raises:
        AnalyticsError: the two arrays differ in shape, naming both.
    """
    if a.shape != b.shape:
        raise AnalyticsError(f"{names}: length mismatch {a.size} != {b.size}")


def check_window(window: Any, name: str = "window") -> int:
    """Windows are positive integers (number of observations, not time spans).

    Raises:
        AnalyticsError: not a positive int.
    """
    if isinstance(window, bool) or not isinstance(window, int | np.integer):
        raise AnalyticsError(f"{name}: must be a positive int, got {window!r}")
    if window < 1:
        raise AnalyticsError(f"{name}: must be >= 1, got {window}")
    return int(window)


def not_constant(x: np.ndarray, name: str = "x") -> None:
    """A statistic that divides by the variance needs a series that moves.

    Raises:
        AnalyticsError: every value is the same (the statistic is undefined).
    """
    if x.size and x.max() == x.min():
        raise AnalyticsError(f"{name}: series is constant, statistic undefined")


def wrap_like(out: np.ndarray, like: Any) -> np.ndarray | pd.Series:
    """Keep the caller's pandas index when they passed a Series (same length only)."""
    if isinstance(like, pd.Series) and len(like) == len(out):
        return pd.Series(out, index=like.index, name=like.name)
    return out
