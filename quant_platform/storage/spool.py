"""An append-only on-disk spool for trade batches the database could not take.

Each batch is one record, `MAGIC | length | crc32 | msgpack(list[Trade])`,
fsynced before `append` returns, in numbered segment files rotated by size.
Draining reads batches oldest first and `ack`s each one once it is in the
database: the acknowledged offset is kept in a small sidecar file and a
segment is deleted when all of it is acknowledged, so a crash mid-drain
re-sends at most one batch (which the writer's ON CONFLICT ignores).

A process never appends to a segment an earlier process wrote, so a torn
tail (crash mid-write) stays the last bytes of its segment: the reader detects
it by length/CRC, logs a warning, skips it and carries on at the next valid
record (found by its magic) if there is one. Thread-safe; one process per directory.
"""

from __future__ import annotations

import logging
import os
import struct
import threading
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, NamedTuple

import msgspec

from quant_platform.domain import Trade

log = logging.getLogger(__name__)
MAGIC = b"QPS1"
_HEADER = struct.Struct("<4sII")  # magic, payload length, crc32 of the payload
_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(list[Trade])
_SEGMENT_GLOB = "spool-*.bin"
MAX_RECORD_BYTES = 1 << 30


class SpoolBatch(NamedTuple):
    """One spooled batch and where it ends; pass it to `Spool.ack` once stored."""

    segment: Path
    end: int
    last: bool  # the last readable record of its segment when it was read
    segment_size: int
    trades: list[Trade]


class SpoolFull(OSError):
    """The spool already holds `max_bytes` of unacknowledged batches."""


class Spool:
    """Durable FIFO of trade batches under `directory` (created if missing).

    `append` raises OSError when the disk refuses the write (nothing partial is
    left behind), and its subclass SpoolFull when the batch would take the
    spool past `max_bytes`; readers never raise on corrupt data, they count it
    in `corrupt_records` and skip it.
    """

    def __init__(
        self,
        directory: Path | str,
        segment_bytes: int = 8 << 20,  # a drain decodes one segment at a time (~100k trades)
        max_bytes: int | None = None,
    ) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.segment_bytes = segment_bytes
        self.max_bytes = max_bytes
        self.corrupt_records = 0
        self._lock = threading.RLock()
        self._fh: IO[bytes] | None = None
        self._path: Path | None = None
        self._warned: set[tuple[str, int]] = set()

    # --- files ------------------------------------------------------------------------
    def _segments(self) -> list[Path]:
        return sorted(self.dir.glob(_SEGMENT_GLOB))

    @staticmethod
    def _ack_path(segment: Path) -> Path:
        return segment.with_suffix(".ack")

    def _acked(self, segment: Path) -> int:
        try:
            return int(self._ack_path(segment).read_text().strip() or 0)
        except (FileNotFoundError, ValueError):
            return 0

    def _open_new_segment(self) -> None:
        segs = self._segments()
        nxt = int(segs[-1].stem.split("-")[1]) + 1 if segs else 1
        self._close_writer()
        self._path = self.dir / f"spool-{nxt:012d}.bin"
        self._fh = open(self._path, "ab")  # noqa: SIM115 - kept open across appends
        _fsync_dir(self.dir)

    def _close_writer(self) -> None:
        if self._fh is not None:
            try:
                self._fh.close()
            except OSError:
                pass
        self._fh = None
        self._path = None

    # --- write ------------------------------------------------------------------------
    def append(self, batch: Sequence[Trade]) -> None:
        """Durably append one batch (written and fsynced) before returning.

        Raises:
            SpoolFull: the batch would take the spool past `max_bytes` (nothing written).
            OSError: the disk refused the write (nothing partial is left behind).
        """
        if not batch:
            return
        payload = _ENCODER.encode(list(batch))
        record = _HEADER.pack(MAGIC, len(payload), zlib.crc32(payload)) + payload
        with self._lock:
            if self.max_bytes is not None:
                used = self.size_bytes()
                if used + len(record) > self.max_bytes:
                    raise SpoolFull(
                        f"spool {self.dir} holds {used} of its {self.max_bytes} bytes "
                        "(QP_SPOOL_MAX_BYTES)"
                    )
            if self._fh is None or self._fh.tell() >= self.segment_bytes:
                self._open_new_segment()
            fh = self._fh
            assert fh is not None
            start = fh.tell()
            try:
                fh.write(record)
                fh.flush()
                os.fsync(fh.fileno())
            except OSError:
                # Leave no torn record behind a later good one: cut back, start afresh.
                try:
                    fh.truncate(start)
                except OSError:
                    pass
                self._close_writer()
                raise

    # --- read -------------------------------------------------------------------------
    def iter_batches(self) -> Iterator[SpoolBatch]:
        """Unacknowledged batches, oldest first; fully consumed corrupt segments are removed."""
        for path in self._segments():
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                continue
            start = self._acked(path)
            records = list(self._records(path, data, start))
            for i, (end, trades) in enumerate(records):
                yield SpoolBatch(path, end, i == len(records) - 1, len(data), trades)
            if not records:
                with self._lock:  # nothing readable left (empty, acked or garbage): drop it
                    if path != self._path:
                        self._delete(path)

    def _records(self, path: Path, data: bytes, pos: int) -> Iterator[tuple[int, list[Trade]]]:
        n = len(data)
        while pos < n:
            bad = None
            if pos + _HEADER.size > n:
                bad = "torn header"
            else:
                magic, length, crc = _HEADER.unpack_from(data, pos)
                start, end = pos + _HEADER.size, pos + _HEADER.size + length
                if magic != MAGIC or length > MAX_RECORD_BYTES:
                    bad = "bad record header"
                elif end > n:
                    bad = "torn record"
                elif zlib.crc32(data[start:end]) != crc:
                    bad = "checksum mismatch"
                else:
                    try:
                        trades = _DECODER.decode(data[start:end])
                    except msgspec.DecodeError:
                        bad = "undecodable record"
                    else:
                        yield end, trades
                        pos = end
                        continue
            nxt = data.find(MAGIC, pos + 1)
            self._corrupt(path, pos, (nxt if nxt >= 0 else n) - pos, bad)
            if nxt < 0:
                return
            pos = nxt

    def _corrupt(self, path: Path, pos: int, size: int, what: str) -> None:
        key = (path.name, pos)
        if key in self._warned:
            return
        self._warned.add(key)
        self.corrupt_records += 1
        log.warning("spool %s: %s at byte %d, %d bytes skipped", path.name, what, pos, size)

    # --- acknowledge ----------------------------------------------------------------
    def ack(self, item: SpoolBatch) -> None:
        """Mark `item` (and everything before it in its segment) as stored in the database."""
        with self._lock:
            path = item.segment
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                return
            if item.last and size <= item.segment_size:
                self._delete(path)
            else:
                _write_atomic(self._ack_path(path), str(item.end).encode())

    def _delete(self, path: Path) -> None:
        if path == self._path:
            self._close_writer()
        path.unlink(missing_ok=True)
        self._ack_path(path).unlink(missing_ok=True)

    # --- state ------------------------------------------------------------------------
    def has_data(self) -> bool:
        """True while any segment holds bytes not yet acknowledged."""
        for p in self._segments():
            try:
                if p.stat().st_size > self._acked(p):
                    return True
            except FileNotFoundError:
                continue
        return False

    def size_bytes(self) -> int:
        """Bytes of unacknowledged data on disk (stats each segment: a few files)."""
        total = 0
        with self._lock:
            for p in self._segments():
                try:
                    total += max(0, p.stat().st_size - self._acked(p))
                except FileNotFoundError:
                    continue
        return total

    def rows(self) -> int:
        """Trades not yet acknowledged (reads every segment: for start-up and tests)."""
        return sum(len(b.trades) for b in self.iter_batches())

    def segments(self) -> Iterator[tuple[Path, list[list[Trade]]]]:
        """Each segment with its unacknowledged readable batches, oldest first."""
        for path in self._segments():
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                continue
            yield path, [t for _, t in self._records(path, data, self._acked(path))]

    def remove(self, path: Path) -> None:
        """Delete a whole segment (all of it is in the database)."""
        with self._lock:
            self._delete(path)

    def close(self) -> None:
        with self._lock:
            self._close_writer()


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _fsync_dir(directory: Path) -> None:
    """Make a new file's directory entry durable (no-op where unsupported)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
