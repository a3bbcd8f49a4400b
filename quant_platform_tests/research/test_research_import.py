"""`qp import`: Binance public-data files into the real database, idempotently."""

from __future__ import annotations

import zipfile
from pathlib import Path

import psycopg
import pytest

from quant_platform.cli.main import main
from quant_platform.config import Settings
from quant_platform.feed.public_files import (
    _KINDS,
    FileFormatError,
    FileKind,
    RowError,
    identify,
    read_all,
    register_kind,
)
from quant_platform.simulator.replay import read_csv
from quant_platform.storage.history_import import import_files

BASE = 1_790_000_000_000  # 2026-09-21
TRADES_HEADER = "id,price,qty,quote_qty,time,is_buyer_maker"
AGG_HEADER = "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker"


def trades_lines() -> list[str]:
    """Unsorted; line 3 (1-based, no header) has zero qty, line 5 is malformed."""
    return [
        f"103,60010.0,0.003,180.03,{BASE + 2000},false",
        f"101,60000.0,0.001,60.0,{BASE},true",
        f"104,60020.0,0.000,0,{BASE + 2500},true",
        f"102,60005.5,0.002,120.011,{BASE + 1000},False",
        f"105,abc,0.004,240.12,{BASE + 3000},True",
        f"106,60040.0,0.005,300.2,{BASE + 4000},true",
    ]


def write_csv(path: Path, lines: list[str], header: str | None = None) -> Path:
    body = ([header] if header else []) + lines
    path.write_text("\n".join(body) + "\n")
    return path


def write_zip(path: Path, lines: list[str], header: str | None = None) -> Path:
    body = "\n".join(([header] if header else []) + lines) + "\n"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(path.with_suffix(".csv").name, body)
    return path


def stored(db: psycopg.Connection, symbol: str) -> list[tuple]:
    return db.execute(
        "SELECT trade_id, price, qty, is_buyer_maker, kind, extract(epoch FROM time) * 1000"
        " FROM trades WHERE symbol = %s ORDER BY trade_id",
        (symbol,),
    ).fetchall()


@pytest.mark.parametrize("header", [False, True], ids=["no-header", "header"])
@pytest.mark.parametrize("packing", ["csv", "zip"])
def test_trades_file_exact_valid_rows_idempotent(
    db: psycopg.Connection, database_url: str, tmp_path: Path, header: bool, packing: str
) -> None:
    name = f"BTCUSDT-trades-2026-09-21.{packing}"
    writer = write_zip if packing == "zip" else write_csv
    path = writer(tmp_path / name, trades_lines(), TRADES_HEADER if header else None)
    summary = import_files(database_url, [path])
    (res,) = summary.files
    assert res.error is None and res.report.had_header is header
    assert res.report.rows_read == 6 and res.stored == 4
    assert dict(res.report.rejected) == {"zero_qty": 1, "malformed": 1}
    bad = [(r.line, r.reason) for r in res.report.rejected_lines]
    offset = 1 if header else 0
    assert bad == [(3 + offset, "zero_qty"), (5 + offset, "malformed")]
    rows = stored(db, "BTCUSDT")
    assert [r[0] for r in rows] == [101, 102, 103, 106]
    assert rows[0][1:5] == (60000.0, 0.001, True, "trade")
    assert rows[2][3] is False and int(rows[3][5]) == BASE + 4000
    assert summary.spans() == {("BTCUSDT", "trades"): (BASE, BASE + 4000)}
    again = import_files(database_url, [path])
    assert again.stored == 0 and again.files[0].duplicates == 4
    assert len(stored(db, "BTCUSDT")) == 4


def test_agg_trades_and_klines(db: psycopg.Connection, database_url: str, tmp_path: Path) -> None:
    agg = write_csv(
        tmp_path / "ETHUSDT-aggTrades-2026-09-21.csv",
        [
            f"7,3000.5,0.4,70,71,{BASE + 500},true",
            f"6,3000.1,0,69,69,{BASE + 400},false",
            f"5,3000.0,0.2,66,68,{BASE + 300},false",
        ],
        AGG_HEADER,
    )
    kl_lines = [
        f"{BASE + 60_000 * i},100,{101 + i},99,{100.5 + i},10,{BASE + 60_000 * i + 59_999},"
        f"1005,{20 + i},4,402,0"
        for i in (2, 0, 1)
    ]
    kl_lines.insert(1, f"{BASE},100,90,99,100.5,10,0,1005,20,4,402,0")  # high < open: bad bar
    kl = write_zip(tmp_path / "SOLUSDT-1m-2026-09-21.zip", kl_lines)
    summary = import_files(database_url, [agg, kl])
    assert summary.stored == 2 + 3
    assert summary.rejected() == {"zero_qty": 1, "malformed": 1}
    rows = stored(db, "ETHUSDT")
    assert [(r[0], r[4]) for r in rows] == [(5, "aggTrade"), (7, "aggTrade")]
    bars = db.execute(
        "SELECT interval, open, high, close, volume, quote_volume, vwap, trade_count, buy_volume"
        " FROM ohlcv WHERE symbol = 'SOLUSDT' ORDER BY bucket"
    ).fetchall()
    assert [b[7] for b in bars] == [20, 21, 22]
    assert bars[0] == ("1m", 100.0, 101.0, 100.5, 10.0, 1005.0, 100.5, 20, 4.0)
    assert import_files(database_url, [agg, kl]).stored == 0


def test_cli_reports_lines_and_summary(
    db: psycopg.Connection, settings: Settings, tmp_path: Path, monkeypatch, capsys, request
) -> None:
    from quant_platform.config import get_settings

    monkeypatch.setenv("QP_DATABASE_URL", settings.database_url)
    get_settings.cache_clear()
    request.addfinalizer(get_settings.cache_clear)
    monkeypatch.setattr("quant_platform.config.settings.get_settings", get_settings)
    path = write_csv(tmp_path / "mydump.csv", trades_lines())
    code = main(["import", str(path), "--symbol", "xrpusdt", "--kind", "trades", "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0
    assert "rejected mydump.csv:5: malformed" in out
    assert "rejected mydump.csv:3: zero_qty" in out
    assert "rows read 6  stored 4  already stored 0" in out
    assert "rejected 2: malformed 1, zero_qty 1" in out
    assert "XRPUSDT" in out and "2026-09-21" in out
    assert len(stored(db, "XRPUSDT")) == 4
    code = main(["import", str(path), "--symbol", "XRPUSDT", "--kind", "trades", "--no-progress"])
    assert "stored 0  already stored 4" in capsys.readouterr().out


def test_unknown_file_is_a_clear_error_not_a_traceback(
    database_url: str, tmp_path: Path, capsys
) -> None:
    path = write_csv(tmp_path / "prices.csv", ["1,2,3"])
    with pytest.raises(FileFormatError, match="--symbol"):
        identify(path)
    with pytest.raises(FileFormatError, match="known kinds"):
        identify(path, "BTCUSDT", "ticks")
    wrong = write_csv(tmp_path / "BTCUSDT-trades-x.csv", ["1"], AGG_HEADER)
    (res,) = import_files(database_url, [wrong]).files
    assert res.error and "header has 7 columns" in res.error and "wrong --kind" in res.error


def test_replay_reads_through_the_same_parser(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "BTCUSDT-trades-2026-09-21.zip", trades_lines(), TRADES_HEADER)
    f = read_csv(path)
    assert (f.kind, f.had_header, f.skipped_zero, f.skipped_bad) == ("trades", True, 1, 1)
    assert [r.id for r in f.rows] == [101, 102, 103, 106]
    assert f.rows[0].price == "60000.0"


def test_registry_takes_a_new_kind(tmp_path: Path) -> None:
    def parse(fields: list[str]) -> tuple:
        if not fields[1]:
            raise RowError("malformed", "empty rate")
        return (int(fields[0]), float(fields[1]))

    kind = register_kind(FileKind("fundingRateTest", ("calc_time", "rate"), parse, "funding"))
    try:
        path = write_csv(tmp_path / "BTCUSDT-fundingRateTest-2026-09.csv", [f"{BASE},0.0001", "1,"])
        ident, rows, report = read_all(path)
        assert ident.kind is kind and rows == [(BASE, 0.0001)]
        assert report.rejected == {"malformed": 1}
    finally:
        _KINDS.pop("fundingratetest")


def test_a_trade_repeated_inside_a_file_is_stored_once(
    db: psycopg.Connection, database_url: str, tmp_path: Path
) -> None:
    """The optimistic direct COPY meets the duplicate and the chunk goes through staging."""
    lines = trades_lines() + [f"101,60000.0,0.001,60.0,{BASE},true"]
    path = write_csv(tmp_path / "BTCUSDT-trades-2026-09-21.csv", lines)
    (res,) = import_files(database_url, [path]).files
    assert res.report.accepted == 5 and res.stored == 4 and res.duplicates == 1
    assert [r[0] for r in stored(db, "BTCUSDT")] == [101, 102, 103, 106]
