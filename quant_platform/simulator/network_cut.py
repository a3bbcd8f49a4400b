"""A TCP forwarder in front of the simulator that can be cut: a network outage on demand.

The simulator's own faults act per connection (drops, stalls, blackouts); a real
outage is different: every connection dies *and* new ones are refused, for as
long as the outage lasts, while the venue keeps publishing. `NetworkCut` stands
between a client and the simulator's port: `cut()` stops listening (a connect
gets ECONNREFUSED, as from a host whose network is down) and aborts every
forwarded connection; `restore()` listens again on the same port. One instance
for the WebSocket URL and another for the REST URL let an outage take the
stream down for an hour and REST for part of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket

log = logging.getLogger(__name__)
CHUNK = 1 << 16


class NetworkCut:
    """Forwards `host:port` → `upstream_host:upstream_port` until cut.

    `port=0` picks a free port at the first `start()`; `restore()` binds that
    same port again, so the client's URL stays valid across the outage.
    """

    def __init__(
        self, upstream_host: str, upstream_port: int, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.host = host
        self.port = port
        self.is_cut = False
        self.cuts = 0
        self.accepted = 0
        self._server: asyncio.Server | None = None
        self._pairs: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()

    @property
    def url_hostport(self) -> str:
        return f"{self.host}:{self.port}"

    async def start(self) -> None:
        """Listen (again) on `host:port`.

        Raises:
            OSError: the port cannot be bound (taken by another program).
        """
        self._server = await asyncio.start_server(
            self._accept, self.host, self.port, reuse_address=True
        )
        sock: socket.socket = self._server.sockets[0]
        self.port = int(sock.getsockname()[1])
        self.is_cut = False

    async def cut(self) -> int:
        """Stop listening and abort every forwarded connection; returns how many were cut."""
        self.is_cut = True
        self.cuts += 1
        if self._server is not None:
            self._server.close()
            self._server = None
        n = len(self._pairs)
        for a, b in list(self._pairs):
            for w in (a, b):
                w.transport.abort()
        self._pairs.clear()
        log.info("network cut on %s: %d connection(s) aborted", self.url_hostport, n)
        return n

    async def restore(self) -> None:
        """Listen on the same port again (no-op if not cut).

        Raises:
            OSError: the port was taken by another program during the outage.
        """
        if self._server is None:
            await self.start()
            log.info("network restored on %s", self.url_hostport)

    async def stop(self) -> None:
        await self.cut()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.is_cut:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.transport.abort()
            return
        self.accepted += 1
        pair = (writer, up_writer)
        self._pairs.add(pair)
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            self._pairs.discard(pair)
            for w in pair:
                w.transport.abort()


async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
    """Copy until EOF or a reset; a reset on either side ends both directions."""
    with contextlib.suppress(OSError, asyncio.IncompleteReadError, ConnectionError):
        while True:
            data = await src.read(CHUNK)
            if not data:
                break
            dst.write(data)
            await dst.drain()
    with contextlib.suppress(OSError, RuntimeError):
        dst.write_eof()
