"""Number and signal formatting plus the CSV download button, shared by every page."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import streamlit as st

from quant_platform.domain.coerce import as_float

num = as_float  # the pages' name for it


def fmt(v: Any, spec: str = ".4f") -> str:
    f = as_float(v)
    if math.isnan(f):
        return "—"
    if math.isinf(f):
        return "∞"
    return format(f, spec)


def duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "∞" if seconds > 0 else "—"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def signal(z: float, entry: float, exit_: float) -> str:
    """The textbook mean-reversion state for this z-score and these thresholds."""
    if not math.isfinite(z):
        return "—"
    if z >= entry:
        return "SHORT spread"
    if z <= -entry:
        return "LONG spread"
    if abs(z) <= exit_:
        return "flat / exit"
    return "hold"


def signal_colour(z: float, entry: float) -> Any:
    return "red" if math.isfinite(z) and abs(z) >= entry else "gray"


def csv(df: pd.DataFrame) -> bytes:
    return df.to_csv(index=not isinstance(df.index, pd.RangeIndex)).encode()


def download(label: str, df: pd.DataFrame, name: str, key: str) -> None:
    """A CSV download; spaces in the name (the "live 1s" timeframe) become underscores."""
    st.download_button(
        f":material/download: {label}",
        csv(df),
        file_name="_".join(name.split()),
        mime="text/csv",
        key=key,
        on_click="ignore",
        disabled=df.empty,
    )
