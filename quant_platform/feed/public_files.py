"""Binance public-data files (data.binance.vision, USD-M futures): one parser for every reader.

`qp import`, the dashboard's uploads and the simulator's replay all read files
through here, so a row the importer rejects is a row the replay skips, for the
same reason. Formats (each with or without a header row; older archives have
none), plain ``.csv`` or the ``.zip`` the venue publishes, rows in any order:

* ``trades``:    ``id,price,qty,quote_qty,time,is_buyer_maker``
* ``aggTrades``: ``agg_trade_id,price,quantity,first_trade_id,last_trade_id,
  transact_time,is_buyer_maker``
* ``klines``:    ``open_time,open,high,low,close,volume,close_time,quote_volume,
  count,taker_buy_volume,taker_buy_quote_volume,ignore``

Kinds live in a registry (:func:`register_kind`) so a new file type (e.g.
``fundingRate``) is one :class:`FileKind` with its own row parser and target
table; nothing here changes. Rows are parsed with ``str.split`` (the venue
never quotes) and validated field by field; a bad row raises :class:`RowError`
with a reason and is reported by file and line number, never stopping the file.
Prices and quantities stay the strings of the file once checked, so the COPY
into the database and the replay see exactly the venue's digits.
"""

from __future__ import annotations

import io
import json
import math
import re
import time
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, NamedTuple

# Binance USD-M launched in 2019; anything before 2017 or more than a day ahead is a bad clock.
MIN_TIME_MS = 1_483_228_800_000  # 2017-01-01
_MAX_AHEAD_MS = 86_400_000
# Spot archives switched to microseconds in 2025; futures may follow. Above this it is µs.
_MICROS_ABOVE = 10**14
_TRUE = frozenset({"true", "1", "t", "yes"})
_FALSE = frozenset({"false", "0", "f", "no"})
_NAME_RE = re.compile(
    r"^(?P<symbol>[A-Z0-9]{2,30})-(?P<kind>[A-Za-z]+|\d+[smhdwM])-", re.IGNORECASE
)
_INTERVAL_RE = re.compile(r"^\d+[smhdwM]$")
CHUNK_ROWS = 100_000
MAX_REPORTED_LINES = 50


class RowError(ValueError):
    """A row the parser refuses; `reason` is a short stable key (counted in summaries)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class FileFormatError(ValueError):
    """The file as a whole can't be read (unknown kind, empty, wrong column count, bad zip)."""


class TradeRecord(NamedTuple):
    """One trade or aggregate trade; for a trades file `first_id == last_id == trade_id`."""

    time_ms: int
    trade_id: int
    price: str
    qty: str
    buyer_is_maker: bool
    first_id: int
    last_id: int


class KlineRecord(NamedTuple):
    """One bar as the venue publishes it (strings kept as in the file, checked finite)."""

    open_time_ms: int
    open: str
    high: str
    low: str
    close: str
    volume: str
    quote_volume: str
    trade_count: int
    taker_buy_volume: str


@dataclass(frozen=True)
class FileKind:
    """A file type: its columns, a row parser and where its rows go.

    `parse(fields)` returns a record (a NamedTuple whose first field is the
    row's time in ms) or raises RowError; `table` names the target table and
    `loader` the storage function key (see storage/history_import.py).
    """

    name: str
    columns: tuple[str, ...]
    parse: Callable[[list[str]], tuple]
    table: str
    stream_kind: str = ""  # `trades.kind` for trade files: "trade" / "aggTrade"
    # line → fields; None: the venue's CSV (split on commas, optional header row)
    split: Callable[[str], list[str]] | None = None


_KINDS: dict[str, FileKind] = {}


def register_kind(kind: FileKind) -> FileKind:
    """Add (or replace) a file kind; the CLI, uploads and replay see it at once."""
    _KINDS[kind.name.lower()] = kind
    return kind


def file_kind(name: str) -> FileKind:
    """The registered kind named `name` (case-insensitive; `1m`, `5m`… mean klines).

    Raises:
        FileFormatError: unknown kind, naming the known ones.
    """
    key = "klines" if _INTERVAL_RE.match(name) else name.lower()
    try:
        return _KINDS[key]
    except KeyError:
        known = ", ".join(sorted(k.name for k in _KINDS.values()))
        raise FileFormatError(f"unknown file kind {name!r}; known kinds: {known}") from None


def known_kinds() -> list[str]:
    return sorted(k.name for k in _KINDS.values())


def _time_ms(text: str) -> int:
    try:
        t = int(text)
    except ValueError:
        raise RowError("malformed", f"time {text!r} is not an integer") from None
    if t > _MICROS_ABOVE:
        t //= 1000
    if t < MIN_TIME_MS or t > time.time() * 1000 + _MAX_AHEAD_MS:
        raise RowError("bad_time", f"time {text} is outside 2017..now")
    return t


def _int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise RowError("malformed", f"{what} {text!r} is not an integer") from None


def _number(text: str, what: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise RowError("malformed", f"{what} {text!r} is not a number") from None
    if not math.isfinite(v):
        raise RowError("malformed", f"{what} {text!r} is not finite")
    return v


def _bool(text: str) -> bool:
    t = text.strip().lower()
    if t in _TRUE:
        return True
    if t in _FALSE:
        return False
    raise RowError("malformed", f"is_buyer_maker {text!r} is not a boolean")


def _trade(tid: str, price: str, qty: str, t: str, m: str, first: str, last: str) -> TradeRecord:
    p = _number(price, "price")
    if p <= 0:
        raise RowError("non_positive_price", f"price {price}")
    q = _number(qty, "qty")
    if q < 0:
        raise RowError("negative_qty", f"qty {qty}")
    if q == 0:
        # the venue's REST never returns them and they carry no information
        raise RowError("zero_qty")
    tid_i = _int(tid, "id")
    return TradeRecord(
        _time_ms(t), tid_i, price, qty, _bool(m), _int(first, "first id"), _int(last, "last id")
    )


def parse_trade_row(f: list[str]) -> TradeRecord:
    """`id,price,qty,quote_qty,time,is_buyer_maker` → TradeRecord; raises RowError."""
    return _trade(f[0], f[1], f[2], f[4], f[5], f[0], f[0])


def parse_agg_trade_row(f: list[str]) -> TradeRecord:
    """`agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker`.

    Raises:
        RowError: malformed row or a bad field (the reason names it).
    """
    rec = _trade(f[0], f[1], f[2], f[5], f[6], f[3], f[4])
    if rec.last_id < rec.first_id:
        raise RowError("malformed", f"last_trade_id {f[4]} < first_trade_id {f[3]}")
    return rec


def parse_kline_row(f: list[str]) -> KlineRecord:
    """Binance klines row → KlineRecord; raises RowError on any inconsistent bar.

    Raises:
        RowError: malformed row or an inconsistent bar.
    """
    o, h, lo, c = (
        _number(f[i], n) for i, n in ((1, "open"), (2, "high"), (3, "low"), (4, "close"))
    )
    if min(o, h, lo, c) <= 0:
        raise RowError("non_positive_price")
    if h < max(o, c, lo) or lo > min(o, c):
        raise RowError("malformed", "high/low do not bound open/close")
    vol, qv, tb = _number(f[5], "volume"), _number(f[7], "quote_volume"), _number(f[9], "taker")
    if min(vol, qv, tb) < 0:
        raise RowError("negative_qty")
    return KlineRecord(
        _time_ms(f[0]), f[1], f[2], f[3], f[4], f[5], f[7], _int(f[8], "count"), f[9]
    )


TRADES = register_kind(
    FileKind(
        "trades",
        ("id", "price", "qty", "quote_qty", "time", "is_buyer_maker"),
        parse_trade_row,
        "trades",
        "trade",
    )
)
AGG_TRADES = register_kind(
    FileKind(
        "aggTrades",
        (
            "agg_trade_id",
            "price",
            "quantity",
            "first_trade_id",
            "last_trade_id",
            "transact_time",
            "is_buyer_maker",
        ),
        parse_agg_trade_row,
        "trades",
        "aggTrade",
    )
)
KLINES = register_kind(
    FileKind(
        "klines",
        (
            "open_time",
            "open",
            "high",
            "low",
            "close",
            "volume",
            "close_time",
            "quote_volume",
            "count",
            "taker_buy_volume",
            "taker_buy_quote_volume",
            "ignore",
        ),
        parse_kline_row,
        "ohlcv",
    )
)


def _ndjson_trade_fields(line: str) -> list[str]:
    """One NDJSON trade → the trades-CSV fields, so the same row checks apply.

    Accepts the venue's stream names (`t`/`a`, `p`, `q`, `T`, `m`) or spelled-out
    ones (`id`/`trade_id`, `price`, `qty`, `time`, `is_buyer_maker`).
    """
    try:
        obj = json.loads(line)
    except ValueError:
        raise RowError("malformed", "not a JSON object") from None
    if not isinstance(obj, dict):
        raise RowError("malformed", "not a JSON object")

    def pick(*names: str) -> str:
        for n in names:
            if n in obj and obj[n] is not None:
                v = obj[n]
                return str(v).lower() if isinstance(v, bool) else str(v)
        raise RowError("malformed", f"missing {names[0]}")

    tid = pick("id", "trade_id", "t", "a")
    return [
        tid,
        pick("price", "p"),
        pick("qty", "q", "quantity"),
        "",
        pick("time", "T"),
        pick("is_buyer_maker", "m"),
    ]


def _iso_or_ms(text: str) -> str:
    t = text.strip()
    if t.lstrip("-").isdigit():
        return t
    try:
        dt = datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        raise RowError("malformed", f"time {text!r} is neither epoch ms nor ISO 8601") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return str(int(dt.timestamp() * 1000))


def parse_ohlc_row(f: list[str]) -> KlineRecord:
    """`time,open,high,low,close,volume` (time epoch ms or ISO 8601, UTC if naive)."""
    fields = [_iso_or_ms(f[0]), f[1], f[2], f[3], f[4], f[5], "", "", "0", "0", "", ""]
    rec = parse_kline_row(fields[:7] + ["0", "0", "0", "0", "0"])
    return rec._replace(quote_volume="", trade_count=0, taker_buy_volume="")


NDJSON_TRADES = register_kind(
    FileKind(
        "tradesNdjson",
        TRADES.columns,
        parse_trade_row,
        "trades",
        "trade",
        split=_ndjson_trade_fields,
    )
)
OHLC = register_kind(
    FileKind("ohlc", ("time", "open", "high", "low", "close", "volume"), parse_ohlc_row, "ohlcv")
)


@dataclass(frozen=True)
class FileIdentity:
    """What a file holds: symbol, kind and (klines only) bar interval."""

    symbol: str
    kind: FileKind
    interval: str | None = None


def sniff_kind(path: str | Path, data: bytes | None = None) -> str | None:
    """The one registered kind whose column count matches the file's first line, if any."""
    try:
        with open_text(path, data) as fh:
            first = next((ln for ln in fh if ln.strip()), "")
    except (FileFormatError, OSError, UnicodeDecodeError):
        return None
    n = len(first.strip().split(","))
    matches = [k.name for k in _KINDS.values() if len(k.columns) == n]
    return matches[0] if len(matches) == 1 else None


def identify(
    path: str | Path,
    symbol: str | None = None,
    kind: str | None = None,
    data: bytes | None = None,
) -> FileIdentity:
    """Symbol and kind from `--symbol`/`--kind`, else from the venue's file name.

    `BTCUSDT-trades-2026-11-01.zip` → (BTCUSDT, trades); `BTCUSDT-1m-2026-11-01.zip`
    → (BTCUSDT, klines, 1m). A name without the kind falls back to the one kind
    with the first line's column count.

    Raises:
        FileFormatError: neither given nor in the name, saying which flag to pass.
    """
    name = Path(path).name
    m = _NAME_RE.match(name)
    sym = (symbol or (m.group("symbol") if m else "")).upper()
    kind_name = kind or (m.group("kind") if m else "") or sniff_kind(path, data) or ""
    if not sym:
        raise FileFormatError(
            f"{name}: cannot tell the symbol; name it like BTCUSDT-trades-2026-11-01.zip "
            "or pass --symbol"
        )
    if not kind_name:
        raise FileFormatError(
            f"{name}: cannot tell the kind; name it like BTCUSDT-trades-... or pass --kind "
            f"({', '.join(known_kinds())})"
        )
    fk = file_kind(kind_name)
    interval = None
    if fk.name == "klines":
        if _INTERVAL_RE.match(kind_name):
            interval = kind_name
        elif m and _INTERVAL_RE.match(m.group("kind")):
            interval = m.group("kind")
        else:
            interval = "1m"
    return FileIdentity(sym, fk, interval)


@dataclass
class RejectedLine:
    line: int
    reason: str
    detail: str
    text: str


@dataclass
class ParseReport:
    """What one file held: rows read, accepted, rejected by reason (first lines kept)."""

    path: str
    symbol: str
    kind: str
    had_header: bool = False
    rows_read: int = 0
    accepted: int = 0
    rejected: Counter = field(default_factory=Counter)
    rejected_lines: list[RejectedLine] = field(default_factory=list)
    first_ms: int | None = None
    last_ms: int | None = None

    def reject(self, line: int, err: RowError, text: str) -> None:
        self.rejected[err.reason] += 1
        if len(self.rejected_lines) < MAX_REPORTED_LINES:
            self.rejected_lines.append(RejectedLine(line, err.reason, err.detail, text[:120]))


@contextmanager
def open_text(path: str | Path, data: bytes | None = None) -> Iterator[IO[str]]:
    """The CSV text of a plain file or of the single CSV inside a venue zip.

    Raises:
        FileFormatError: a zip without exactly one CSV member, or not a zip at all.
    """
    p = Path(path)
    raw: IO[bytes] = io.BytesIO(data) if data is not None else p.open("rb")
    try:
        if p.suffix.lower() == ".zip":
            try:
                zf = zipfile.ZipFile(raw)
            except zipfile.BadZipFile as exc:
                raise FileFormatError(f"{p.name}: not a zip file ({exc})") from None
            with zf:
                members = [n for n in zf.namelist() if n.lower().endswith(".csv")]
                if len(members) != 1:
                    raise FileFormatError(
                        f"{p.name}: expected exactly one .csv inside, found {members or 'none'}"
                    )
                with zf.open(members[0]) as member:
                    yield io.TextIOWrapper(member, encoding="utf-8", newline="")
        else:
            yield io.TextIOWrapper(raw, encoding="utf-8", newline="")
    finally:
        raw.close()


def _parse_csv(line: str, parse: Callable[[list[str]], tuple], ncols: int) -> tuple:
    """One comma-separated record of `ncols` fields, parsed.

    Raises:
        RowError: wrong number of columns, or a field the kind's parser refuses.
    """
    fields = line.split(",")
    if len(fields) != ncols:
        raise RowError("malformed", f"{len(fields)} columns, expected {ncols}")
    return parse(fields)


def _is_header(fields: list[str], fk: FileKind, path: str | Path) -> bool:
    """Whether a first line is a header (its first field is not a number).

    Raises:
        FileFormatError: a header with another kind's number of columns.
    """
    head = fields[0].strip().lstrip("\ufeff")
    if not head or head.lstrip("-").isdigit():
        return False
    if len(fields) != len(fk.columns):
        raise FileFormatError(
            f"{Path(path).name}: header has {len(fields)} columns; a {fk.name} "
            f"file has {len(fk.columns)}: {','.join(fk.columns)} (wrong --kind?)"
        )
    return True


def iter_chunks(
    path: str | Path,
    ident: FileIdentity,
    report: ParseReport,
    data: bytes | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> Iterator[list[tuple]]:
    """Valid records of a file in chunks of `chunk_rows`, in file order.

    Counts go to `report` as the file is read (so a progress bar can follow
    `report.rows_read`). A first line that is not a number is the header and
    must name the kind's columns.

    Raises:
        FileFormatError: unreadable file, or a header of another kind.
    """
    fk = ident.kind
    ncols = len(fk.columns)
    parse = fk.parse
    split = fk.split
    chunk: list[tuple] = []
    first_ms = last_ms = None
    with open_text(path, data) as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.strip()
            if not line:
                continue
            if split is None and lineno == 1 and report.rows_read == 0 and not report.had_header:
                if _is_header(line.split(","), fk, path):
                    report.had_header = True
                    continue
            report.rows_read += 1
            try:
                rec = parse(split(line)) if split is not None else _parse_csv(line, parse, ncols)
            except RowError as err:
                report.reject(lineno, err, line)
                continue
            t = rec[0]
            first_ms = t if first_ms is None or t < first_ms else first_ms
            last_ms = t if last_ms is None or t > last_ms else last_ms
            chunk.append(rec)
            if len(chunk) >= chunk_rows:
                report.accepted += len(chunk)
                report.first_ms, report.last_ms = first_ms, last_ms
                yield chunk
                chunk = []
    report.accepted += len(chunk)
    report.first_ms, report.last_ms = first_ms, last_ms
    if chunk:
        yield chunk


def read_all(
    path: str | Path,
    symbol: str | None = None,
    kind: str | None = None,
    data: bytes | None = None,
) -> tuple[FileIdentity, list[tuple], ParseReport]:
    """Every valid record of one (small) file, with its report; for replay and uploads.

    Raises:
        FileFormatError: see :func:`identify` and :func:`iter_chunks`.
    """
    ident = identify(path, symbol, kind, data)
    report = ParseReport(str(path), ident.symbol, ident.kind.name)
    rows: list[tuple] = []
    for chunk in iter_chunks(path, ident, report, data):
        rows.extend(chunk)
    return ident, rows, report
