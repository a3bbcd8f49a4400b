"""Funding rates: the @markPrice stream, the REST backfill and `qp import` store the same rows."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from pathlib import Path

import psycopg
import pytest

from quant_platform.domain.funding import FundingRate, MarkPriceUpdate
from quant_platform.feed.funding import (
    FundingBackfiller,
    FundingRecorder,
    decode_mark_price,
    parse_funding_rows,
)
from quant_platform.feed.public_files import ParseReport, identify, iter_chunks
from quant_platform.ingestion.funding_stream import FundingStream, database_sink
from quant_platform.simulator.funding import FUNDING_INTERVAL_MS, funding_rate, mark_price_payload
from quant_platform.simulator.server import ExchangeSimulator, combined
from quant_platform.storage.funding_store import load_funding, store_funding
from quant_platform.storage.history_import import import_file

F0 = 1_767_225_600_000  # 2026-01-01 00:00 UTC, a funding time
PERIOD_REAL_S = 0.4  # the fast clock runs 8 h of funding per 0.4 s


def _rows(conn: psycopg.Connection) -> list[tuple]:
    return conn.execute(
        "SELECT symbol, (extract(epoch FROM funding_time) * 1000)::int8, funding_rate"
        " FROM funding_rates ORDER BY symbol, funding_time"
    ).fetchall()


def test_stream_rest_backfill_and_import_store_identical_rows(db, database_url, tmp_path: Path):
    t_real0 = time.monotonic()

    def clock_ms() -> int:  # starts 0.1 period before F0 + 8h, then 8 h per 0.4 s
        elapsed = time.monotonic() - t_real0
        return int(F0 + FUNDING_INTERVAL_MS * (0.9 + elapsed / PERIOD_REAL_S))

    async def stream_then_backfill() -> tuple[list[tuple], list[FundingRate]]:
        sim = ExchangeSimulator(
            ["BTCUSDT", "ETHUSDT"], rate=50.0, mark_price_interval_s=0.02, clock_ms=clock_ms
        )
        await sim.start()
        try:
            aconn = await psycopg.AsyncConnection.connect(database_url, autocommit=True)
            stream = FundingStream(sim.url, ["BTCUSDT", "ETHUSDT"], database_sink(aconn))
            task = asyncio.create_task(stream.run())
            deadline = time.monotonic() + 20
            while stream.settled < 6 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await aconn.close()
            assert stream.settled >= 6, f"only {stream.settled} settled rows in 20 s"
            streamed = _rows(db)
            lo = min(r[1] for r in streamed)
            hi = max(r[1] for r in streamed)
            async with FundingBackfiller(sim.rest_url) as bf:
                rest = await bf.fetch_funding("BTCUSDT", lo, hi)
                rest += await bf.fetch_funding("ETHUSDT", lo, hi)
            return streamed, rest
        finally:
            await sim.stop()

    streamed, rest = asyncio.run(asyncio.wait_for(stream_then_backfill(), 60))
    # The stream can only settle funding times it saw pass; all of them are consecutive.
    times = sorted({r[1] for r in streamed})
    assert len(times) >= 3 and all(
        b - a == FUNDING_INTERVAL_MS for a, b in itertools.pairwise(times)
    )
    assert {r[0] for r in streamed} == {"BTCUSDT", "ETHUSDT"}

    db.execute("TRUNCATE funding_rates")
    assert store_funding(db, rest) == len(streamed)
    assert store_funding(db, rest) == 0  # idempotent
    from_rest = _rows(db)

    db.execute("TRUNCATE funding_rates")
    for sym in ("BTCUSDT", "ETHUSDT"):  # the venue's monthly file layout, with header
        path = tmp_path / f"{sym}-fundingRate-2026-01.csv"
        lines = ["calc_time,funding_interval_hours,last_funding_rate"]
        lines += [f"{t},8,{funding_rate(sym, t)}" for t in times]
        path.write_text("\n".join(lines) + "\n")
        res = import_file(db, path)
        assert res.error is None and res.stored == len(times)
    from_import = _rows(db)

    assert streamed == from_rest == from_import
    # and they are the simulator's rates, with sign and digits intact
    assert streamed[0][2] == float(funding_rate(streamed[0][0], streamed[0][1]))


def test_backfill_pages_and_the_loader_returns_the_series(db):
    async def main() -> list[FundingRate]:
        sim = ExchangeSimulator(["BTCUSDT"], rate=10.0, clock_ms=lambda: F0 + 1500 * 8 * 3_600_000)
        await sim.start()
        try:
            async with FundingBackfiller(sim.rest_url) as bf:
                rows = await bf.fetch_funding("BTCUSDT", F0, F0 + 1200 * FUNDING_INTERVAL_MS)
                assert bf.requests == 2  # 1000 + 201 rows: two pages
                return rows
        finally:
            await sim.stop()

    rows = asyncio.run(asyncio.wait_for(main(), 30))
    assert len(rows) == 1201 and rows[0].funding_time_ms == F0
    assert len({r.funding_time_ms for r in rows}) == 1201
    assert store_funding(db, rows) == 1201
    from datetime import UTC, datetime

    t, r = load_funding(
        db,
        "BTCUSDT",
        datetime.fromtimestamp(F0 / 1000, UTC),
        datetime.fromtimestamp((F0 + 10 * FUNDING_INTERVAL_MS) / 1000, UTC),
    )
    assert t.tolist() == [F0 + k * FUNDING_INTERVAL_MS for k in range(11)]
    assert r.tolist() == [rows[k].rate for k in range(11)]


def test_mark_price_frames_decode_and_settle_on_the_next_funding_time():
    a = decode_mark_price(mark_price_payload("BTCUSDT", F0 - 5000, 60000.0))
    assert a == MarkPriceUpdate(
        "BTCUSDT", F0 - 5000, 60000.0, float(funding_rate("BTCUSDT", F0)), F0
    )
    wrapped = combined("btcusdt@markPrice", mark_price_payload("BTCUSDT", F0 + 10, 60001.0))
    b = decode_mark_price(wrapped)
    assert b is not None and b.next_funding_ms == F0 + FUNDING_INTERVAL_MS
    assert decode_mark_price('{"e":"aggTrade","E":1}') is None
    assert decode_mark_price("not json") is None
    bad_rate = json.loads(mark_price_payload("BTCUSDT", F0, 1.0))
    bad_rate["r"] = "nan"
    assert decode_mark_price(json.dumps(bad_rate)) is None

    rec = FundingRecorder()
    assert rec.observe(a) is None
    again = MarkPriceUpdate("BTCUSDT", F0 - 1000, 60000.0, -0.0003, F0)  # rate revised
    assert rec.observe(again) is None
    settled = rec.observe(b)
    assert settled == FundingRate("BTCUSDT", F0, -0.0003)  # the last rate shown before F0


def test_rest_garbage_is_a_clear_error():
    from quant_platform.feed.backfill import BackfillError

    with pytest.raises(BackfillError, match="fundingRate: unexpected response"):
        parse_funding_rows(b'{"code":-1121,"msg":"Invalid symbol."}')
    rows = parse_funding_rows(
        b'[{"symbol":"btcusdt","fundingTime":1,"fundingRate":"0.0001","markPrice":"1"},'
        b'{"symbol":"BTCUSDT","fundingTime":2,"fundingRate":"x"}]'
    )
    assert rows == [FundingRate("BTCUSDT", 1, 0.0001)]


def test_funding_file_rows_are_validated_line_by_line(tmp_path: Path):
    import quant_platform.storage.funding_store  # noqa: F401 - registers the kind

    path = tmp_path / "SOLUSDT-fundingRate-2026-01.csv"
    path.write_text(f"{F0},8,0.00010000\n{F0 + 1},8,abc\n{F0 + 2},8,2.5\n12,8,0.0001\n")
    ident = identify(path)
    assert (ident.symbol, ident.kind.name, ident.kind.table) == (
        "SOLUSDT",
        "fundingRate",
        "funding_rates",
    )
    report = ParseReport(str(path), "SOLUSDT", "fundingRate")
    recs = [r for chunk in iter_chunks(path, ident, report) for r in chunk]
    assert [(r.time_ms, r.rate) for r in recs] == [(F0, "0.00010000")]
    assert report.rejected == {"malformed": 1, "bad_rate": 1, "bad_time": 1}
