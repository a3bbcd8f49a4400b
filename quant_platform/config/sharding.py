"""Split QP_SYMBOLS over N ingestion daemons (`qp ingest --shard i/n`).

Assignment is sorted round-robin: shard i of n takes ``sorted(symbols)[i::n]``. It is
deterministic (every daemon computes the same split from the same QP_SYMBOLS, no
coordinator), balanced to within one symbol, and never leaves a shard empty while
n <= len(symbols). Adding a symbol may move others to a neighbouring shard; that is
safe because a move is an overlap at worst, and the trades table's unique key
(symbol, kind, trade_id, time) with ON CONFLICT DO NOTHING makes the overlap store
each trade once.

Pairs: each pair (QP_PAIRS, or every pair of QP_SYMBOLS) belongs to the shard that
owns its first leg, so exactly one daemon computes and alerts on it. When the other
leg sits on another shard, it becomes one of this shard's `remote_symbols`: the
daemon reads that leg's trades from the owning shard's Redis tick stream
(ingestion/remote_legs.py) into its live bars; see docs/scaling.md.
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


def shard_pairs(
    pairs: list[tuple[str, str]], owned: tuple[str, ...]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The pairs a shard computes (those whose first leg it owns, as `Y/X`) and the
    remote symbols it must read for them (second legs owned by another shard).

    First-leg ownership needs no coordinator and gives every pair exactly one shard.
    """
    mine = [(y, x) for y, x in pairs if y in owned]
    remote = sorted({x for _, x in mine if x not in owned})
    return tuple(f"{y}/{x}" for y, x in mine), tuple(remote)


def shard_settings(settings: Settings, index: int, count: int) -> Settings:
    """Settings for one shard: its symbols, the pairs it owns, their remote legs, its spool.

    Raises:
        SettingsError: the shard would be empty (see shard_symbols).
    """
    symbols = shard_symbols(settings.symbols, index, count)
    owned = set(symbols)
    pairs, remote = shard_pairs(settings.pair_list, symbols)
    quiet = tuple(s for s in settings.quiet_symbols if s in owned)
    spool = (settings.spool_path or settings.data_dir / "spool") / f"shard-{index}-of-{count}"
    return settings.model_copy(
        update={
            "symbols": symbols,
            "pairs": pairs,
            "remote_symbols": remote,
            "quiet_symbols": quiet,
            "spool_path": spool,
        }
    )
