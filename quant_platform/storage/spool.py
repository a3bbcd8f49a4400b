"""An append-only on-disk spool for trade batches the database could not take.

Records are `length | crc32 | msgpack(list[Trade])`, fsynced per batch, in
numbered segment files; a segment is deleted only after all its batches are in
the database. A torn tail (crash mid-write) fails its CRC or length and is
skipped with a warning. A later daemon drains what an earlier one spooled.
"""

from __future__ import annotations

import logging
import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import msgspec

from quant_platform.domain import Trade

log = logging.getLogger(__name__)
_HEADER = struct.Struct("<II")
_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(list[Trade])


class Spool:
    def __init__(self, directory: Path, segment_bytes: int = 64 << 20) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.segment_bytes = segment_bytes
        self.corrupt_records = 0

    def _segments(self) -> list[Path]:
        return sorted(self.dir.glob("spool-*.bin"))

    def _active(self) -> Path:
        segs = self._segments()
        if segs and segs[-1].stat().st_size < self.segment_bytes:
            return segs[-1]
        nxt = int(segs[-1].stem.split("-")[1]) + 1 if segs else 1
        return self.dir / f"spool-{nxt:012d}.bin"

    def append(self, batch: list[Trade]) -> None:
        """Durably append one batch (fsync) before returning."""
        payload = _ENCODER.encode(batch)
        record = _HEADER.pack(len(payload), zlib.crc32(payload)) + payload
        path = self._active()
        with open(path, "ab") as fh:
            fh.write(record)
            fh.flush()
            os.fsync(fh.fileno())

    def has_data(self) -> bool:
        return any(p.stat().st_size > 0 for p in self._segments())

    def rows(self) -> int:
        return sum(len(b) for _, batches in self.segments() for b in batches)

    def segments(self) -> Iterator[tuple[Path, list[list[Trade]]]]:
        """Each segment with its readable batches, oldest first."""
        for path in self._segments():
            yield path, list(self._read(path))

    def _read(self, path: Path) -> Iterator[list[Trade]]:
        data = path.read_bytes()
        pos = 0
        while pos + _HEADER.size <= len(data):
            length, crc = _HEADER.unpack_from(data, pos)
            start, end = pos + _HEADER.size, pos + _HEADER.size + length
            if end > len(data) or zlib.crc32(data[start:end]) != crc:
                self.corrupt_records += 1
                log.warning("spool %s: torn or corrupt record at byte %d skipped", path.name, pos)
                return
            try:
                yield _DECODER.decode(data[start:end])
            except msgspec.DecodeError:
                self.corrupt_records += 1
                log.warning("spool %s: undecodable record at byte %d skipped", path.name, pos)
            pos = end
        if pos < len(data):
            self.corrupt_records += 1
            log.warning("spool %s: %d trailing bytes of a torn write skipped", path.name,
                        len(data) - pos)  # fmt: skip

    def remove(self, path: Path) -> None:
        path.unlink(missing_ok=True)
