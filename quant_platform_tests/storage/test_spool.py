"""Spool: order across rotation, ack, restart survival, torn tails and corrupt records."""

from __future__ import annotations

from pathlib import Path

import pytest

from quant_platform.domain import FillType, Trade
from quant_platform.storage.spool import Spool
from quant_platform_tests.storage.trade_rows import trades as shared_trades


def trades(n: int, start: int = 1) -> list[Trade]:
    """Not the defaults for kind and fill_type, so the round trip shows they are kept."""
    return shared_trades(n, start, kind="aggTrade", fill_type=FillType.LIQUIDATION)


def ids(spool: Spool) -> list[int]:
    return [t.trade_id for b in spool.iter_batches() for t in b.trades]


def test_batches_come_back_in_order_across_rotated_segments(tmp_path: Path) -> None:
    spool = Spool(tmp_path, segment_bytes=2000)
    sent = [trades(20, start=1 + 20 * k) for k in range(10)]
    for b in sent:
        spool.append(b)
    assert len(list(tmp_path.glob("spool-*.bin"))) > 2  # rotated by size
    got = [b.trades for b in spool.iter_batches()]
    assert got == sent  # every field round-trips, kind and fill_type included
    assert spool.rows() == 200 and spool.has_data()


def test_ack_removes_drained_data_and_a_restart_resumes_after_it(tmp_path: Path) -> None:
    spool = Spool(tmp_path, segment_bytes=1500)
    for k in range(6):
        spool.append(trades(10, start=1 + 10 * k))
    items = list(spool.iter_batches())
    for item in items[:4]:
        spool.ack(item)
    spool.close()
    again = Spool(tmp_path)  # a new process
    assert ids(again) == list(range(41, 61))
    again.append(trades(5, start=61))
    for item in list(again.iter_batches()):
        again.ack(item)
    assert not again.has_data()
    assert list(tmp_path.glob("spool-*")) == []


def test_torn_tail_is_skipped_with_a_warning_and_later_appends_survive(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = Spool(tmp_path)
    spool.append(trades(10))
    spool.append(trades(5, start=11))
    spool.close()
    (seg,) = tmp_path.glob("spool-*.bin")
    data = seg.read_bytes()
    seg.write_bytes(data[:-7])  # the second record was cut short by a crash
    again = Spool(tmp_path)
    again.append(trades(3, start=100))  # goes to a new segment, after the torn one
    with caplog.at_level("WARNING"):
        assert ids(again) == [*range(1, 11), 100, 101, 102]
    assert again.corrupt_records == 1
    assert "torn" in caplog.text
    for item in list(again.iter_batches()):
        again.ack(item)
    assert not again.has_data()


def test_corrupt_record_in_the_middle_is_skipped_and_reading_resyncs(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    for k in range(3):
        spool.append(trades(4, start=1 + 4 * k))
    spool.close()
    (seg,) = tmp_path.glob("spool-*.bin")
    data = bytearray(seg.read_bytes())
    second = data.find(b"QPS1", 1)
    data[second + 20] ^= 0xFF  # flip a payload byte of the second record
    seg.write_bytes(bytes(data))
    again = Spool(tmp_path)
    assert ids(again) == [1, 2, 3, 4, 9, 10, 11, 12]
    assert again.corrupt_records == 1


def test_garbage_only_segment_is_dropped(tmp_path: Path) -> None:
    (tmp_path / "spool-000000000001.bin").write_bytes(b"\x00garbage")
    spool = Spool(tmp_path)
    assert spool.has_data()
    assert list(spool.iter_batches()) == []
    assert not spool.has_data() and spool.corrupt_records == 1
