"""Simulated funding: deterministic rates every 8 h, the fundingRate REST rows and markPrice frames.

Binance USD-M settles funding at 00:00, 08:00 and 16:00 UTC. The simulator's rate
for (symbol, funding time) is a pure function of the seed, the symbol and the
time, so REST history, the @markPrice stream and a public-data style file all
carry the same number for the same funding time, as on the venue. Between two
funding times the stream shows the rate that will settle at the next one (on
the venue it drifts until then; a constant keeps tests exact).
"""

from __future__ import annotations

import hashlib
import json

FUNDING_PATH = "/fapi/v1/fundingRate"
MARK_PRICE_KINDS = ("markPrice", "markPrice@1s")
FUNDING_INTERVAL_MS = 8 * 3_600_000
MAX_LIMIT = 1000
DEFAULT_LIMIT = 100


def funding_rate(symbol: str, funding_time_ms: int, seed: int = 7) -> str:
    """The rate settled at `funding_time_ms` as the venue prints it (8 decimals).

    Mostly the 0.01 % baseline plus a premium in [-0.02 %, +0.04 %): positive on
    average, sometimes negative, like real perpetuals.
    """
    h = hashlib.sha256(f"{seed}:{symbol.upper()}:{funding_time_ms}".encode()).digest()
    u = int.from_bytes(h[:8], "big") / 2**64
    return f"{0.0001 + (u * 0.0006 - 0.0002):.8f}"


def funding_times(start_ms: int, end_ms: int) -> range:
    """Funding times in [start_ms, end_ms], ascending."""
    first = -(-start_ms // FUNDING_INTERVAL_MS) * FUNDING_INTERVAL_MS
    return range(first, end_ms + 1, FUNDING_INTERVAL_MS)


def funding_rate_rows(
    symbol: str,
    start_ms: int | None,
    end_ms: int | None,
    limit: int,
    now_ms: int,
    seed: int = 7,
) -> list[dict[str, object]]:
    """`GET /fapi/v1/fundingRate`: ascending rows; without startTime the latest `limit`.

    Only funding times already past (<= now) exist, as on the venue.
    """
    hi = now_ms if end_ms is None else min(end_ms, now_ms)
    if start_ms is None:
        last = hi // FUNDING_INTERVAL_MS * FUNDING_INTERVAL_MS
        times = list(funding_times(last - (limit - 1) * FUNDING_INTERVAL_MS, hi))
    else:
        times = list(funding_times(start_ms, hi))[:limit]
    return [
        {"symbol": symbol, "fundingTime": t, "fundingRate": funding_rate(symbol, t, seed)}
        for t in times
    ]


def mark_price_payload(symbol: str, now_ms: int, mark_price: float, seed: int = 7) -> str:
    """One `<symbol>@markPrice` event: the rate for the next funding time and that time."""
    nxt = (now_ms // FUNDING_INTERVAL_MS + 1) * FUNDING_INTERVAL_MS
    return json.dumps(
        {
            "e": "markPriceUpdate",
            "E": now_ms,
            "s": symbol,
            "p": f"{mark_price:.8f}",
            "i": f"{mark_price:.8f}",
            "P": f"{mark_price:.8f}",
            "r": funding_rate(symbol, nxt, seed),
            "T": nxt,
        },
        separators=(",", ":"),
    )
