"""Split QP_SYMBOLS over N ingestion daemons (`qp ingest --shard i/n`).

Assignment is sorted round-robin: shard i of n takes ``sorted(symbols)[i::n]``. It is
deterministic (every daemon computes the same split from the same QP_SYMBOLS, no
coordinator), balanced to within one symbol, and never leaves a shard empty while
n <= len(symbols). Adding a symbol may move others to a neighbouring shard; that is
safe because a move is an overlap at worst, and the trades table's unique key
(symbol, kind, trade_id, time) with ON CONFLICT DO NOTHING makes the overlap store
each trade once.

Pairs: a shard computes live statistics only for the pairs whose two legs it owns.
Pairs split across shards get no live statistics (the Dagster `pair_statistics`
asset still computes them from stored bars); see docs/scaling.md.
"""

from __future__ import annotations

import re

from quant_platform.config.settings import Settings, SettingsError

_SHARD = re.compile(r"^(\d+)/(\d+)$")


def parse_shard(spec: str) -> tuple[int, int]:
    """`"i/n"` -> (i, n), with 0 <= i < n.

    Raises:
        SettingsError: not of the form i/n with 0 <= i < n.
    """
    m = _SHARD.match(spec.strip())
    if not m or int(m.group(2)) < 1 or int(m.group(1)) >= int(m.group(2)):
        raise SettingsError(
            f"--shard: {spec!r} is not a shard; write i/n with 0 <= i < n, e.g. --shard 0/2"
        )
    return int(m.group(1)), int(m.group(2))


def shard_symbols(symbols: tuple[str, ...], index: int, count: int) -> tuple[str, ...]:
    """The symbols shard `index` of `count` ingests: sorted round-robin.

    Raises:
        SettingsError: more shards than symbols would leave this shard empty.
    """
    if count > len(symbols):
        raise SettingsError(
            f"--shard {index}/{count}: only {len(symbols)} symbols in QP_SYMBOLS, so "
            f"shard {index} would be empty; use at most {len(symbols)} shards"
        )
    return tuple(sorted(symbols)[index::count])


def shard_settings(settings: Settings, index: int, count: int) -> Settings:
    """Settings for one shard: its symbols, the pairs inside it, its own spool.

    Raises:
        SettingsError: the shard would be empty (see shard_symbols).
    """
    symbols = shard_symbols(settings.symbols, index, count)
    owned = set(symbols)
    pairs = tuple(p for p in settings.pairs if set(p.split("/")) <= owned)
    quiet = tuple(s for s in settings.quiet_symbols if s in owned)
    spool = (settings.spool_path or settings.data_dir / "spool") / f"shard-{index}-of-{count}"
    return settings.model_copy(
        update={"symbols": symbols, "pairs": pairs, "quiet_symbols": quiet, "spool_path": spool}
    )
