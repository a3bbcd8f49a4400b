"""One combined-stream WebSocket: connect, read, watch every stream, reconnect.

websockets answers the venue's pings itself and sends its own keepalive, so
this module only decides *when* a connection is failed: it closed, it has been
silent too long, one of its streams never delivered, or it is close to the
venue's 24 h cut (proactive reconnect, not counted as a failure).

A stream that fed and then went quiet while its siblings flow is named
(`on_quiet`) and resubscribed once; if it stays quiet for another full
threshold the connection is recycled. The backoff is reset only after a
connection has delivered data for `healthy_s` (a venue that accepts and then
cuts every connection after its first frame must not reconnect in a tight loop).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import websockets
from websockets.asyncio.client import connect

from quant_platform.feed.backoff import Backoff
from quant_platform.feed.liveness import StreamLiveness

log = logging.getLogger(__name__)
MAX_FRAME_BYTES = 1 << 20


@dataclass
class ConnectionEvents:
    """Callbacks the daemon provides; all are called on the event loop, never block."""

    on_frame: Callable[[str | bytes, int], str | None]  # returns the stream that fed, if any
    on_connected: Callable[[str, bool], None]  # (url, is_reconnect)
    on_silent: Callable[[str, list[str]], None]  # (route, never-fed streams)
    on_failure: Callable[[str], None]  # reason
    on_quiet: Callable[[str, list[str]], None] | None = None  # (route, fed-then-quiet streams)


class FeedConnection:
    """Holds one connection for a fixed list of streams; `url_for()` gives the current URL.

    `url_for` is re-evaluated on every connect, so a kind fallback (@trade → @aggTrade)
    changes route and streams on the next attempt.
    """

    def __init__(
        self,
        name: str,
        url_for: Callable[[], tuple[str, str, list[str]]],
        events: ConnectionEvents,
        backoff: Backoff,
        silence_s: float,
        quiet_silence_s: float,
        quiet_streams: frozenset[str],
        max_age_s: float,
        check_every_s: float = 1.0,
        healthy_s: float = 60.0,
    ) -> None:
        self.name = name
        self.url_for = url_for
        self.events = events
        self.backoff = backoff
        self.silence_s = silence_s
        self.quiet_silence_s = quiet_silence_s
        self.quiet_streams = quiet_streams
        self.max_age_s = max_age_s
        self.check_every_s = check_every_s
        self.healthy_s = healthy_s
        self.connects = 0
        self.connected = False
        self.route = ""
        self.silent_now: set[str] = set()  # for /health: streams past their threshold now
        self.quiet_resubscribes = 0
        self._resubscribed: set[str] = set()
        self._quiet: set[str] = set()  # went quiet and resubscribed; waiting for data
        self._first_data: float | None = None  # monotonic time of this connection's first trade

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop`; raises TooManyFailures (from Backoff) when the limit is reached.

        `healthy` from `_read` means data flowed for `healthy_s`; the backoff was
        reset then, so a later drop starts from the base delay again.
        """
        while not stop.is_set():
            route, url, streams = self.url_for()
            self.route = route
            healthy = False
            reason = "closed"
            try:
                async with connect(
                    url,
                    max_size=MAX_FRAME_BYTES,
                    open_timeout=10,
                    ping_interval=20,
                    ping_timeout=20,
                    close_timeout=2,
                    # permessage-deflate cost more CPU per frame than anything else on
                    # the receive path (bench/bench_scale_up.py profile: inflating each
                    # ~150-byte frame, and the peer deflating it); trade frames barely
                    # compress, so the wire bytes saved are few
                    compression=None,
                ) as ws:
                    self.connected = True
                    self.events.on_connected(url, self.connects > 0)
                    self.connects += 1
                    healthy, reason = await self._read(ws, route, streams, stop)
            except (OSError, TimeoutError, websockets.WebSocketException) as exc:
                reason = f"{type(exc).__name__}: {exc}"
            finally:
                self.connected = False
                self.silent_now = set()
            if stop.is_set():
                return
            if reason == "max-age":
                log.info("%s: proactive reconnect before the venue's 24 h cut", self.name)
                continue
            self.events.on_failure(reason)
            delay = self.backoff.failed(reason)  # raises TooManyFailures at the limit
            log.warning(
                "%s: connection lost (%s); reconnect %d in %.2f s",
                self.name,
                reason,
                self.backoff.failures,
                delay,
            )
            try:
                await asyncio.wait_for(stop.wait(), timeout=delay)
            except TimeoutError:
                pass

    async def _read(
        self,
        ws,
        route: str,
        streams: list[str],  # type: ignore[no-untyped-def]
        stop: asyncio.Event,
    ) -> tuple[bool, str]:
        """Read frames in one task; check liveness and age every `check_every_s` here.

        The reader awaits `ws.recv()` straight (no task and no `asyncio.wait` per
        frame, and the liveness checks run per tick, not per frame: both showed in
        bench/bench_scale_up.py's profile at 20,000 frames/s).
        """
        live = StreamLiveness(streams, self.silence_s, self.quiet_silence_s, self.quiet_streams)
        opened = time.monotonic()
        live.reset(opened)
        self._resubscribed.clear()
        self._quiet.clear()
        self._first_data = None
        healthy = False
        reader = asyncio.ensure_future(self._receive(ws, live))
        stopper = asyncio.ensure_future(stop.wait())
        try:
            while True:
                done, _ = await asyncio.wait(
                    {reader, stopper},
                    timeout=self.check_every_s,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                now = time.monotonic()
                if stopper in done:
                    return healthy, "stopping"
                if reader in done:
                    return healthy, _closed_reason(reader)
                first = self._first_data
                if not healthy and first is not None and now - first >= self.healthy_s:
                    healthy = True  # only now: data has flowed for a while
                    self.backoff.succeeded()
                reason = await self._close_reason(ws, live, route, streams, now - opened, now)
                if reason is not None:
                    return healthy, reason
        finally:
            for task in (reader, stopper):
                task.cancel()

    async def _receive(self, ws, live: StreamLiveness) -> None:  # type: ignore[no-untyped-def]
        """Hand every frame to the events until the connection closes.

        Raises:
            websockets.ConnectionClosed: the connection closed (the reason is read by `_read`).
        """
        recv, on_frame, monotonic = ws.recv, self._on_frame, time.monotonic
        while True:
            raw = await recv()
            now = monotonic()
            if on_frame(raw, live, now) and self._first_data is None:
                self._first_data = now

    def _on_frame(self, raw: str | bytes, live: StreamLiveness, now: float) -> bool:
        """Hand a frame to the events; True when it carried a trade (the connection works)."""
        stream = self.events.on_frame(raw, time.time_ns())
        if stream is None:
            return False
        live.seen(stream, now)
        if self._quiet and stream in self._quiet:
            self._quiet.discard(stream)
            log.info("%s: %s feeds again after resubscribing", self.name, stream)
        return True

    async def _close_reason(
        self,
        ws,  # type: ignore[no-untyped-def]
        live: StreamLiveness,
        route: str,
        streams: list[str],
        age: float,
        now: float,
    ) -> str | None:
        """Why the connection must end now (after closing it), or None to keep reading.

        Resubscribes streams that never fed, once each, as a side effect.
        """
        if age > self.max_age_s:
            await ws.close(1000, "proactive reconnect")
            return "max-age"
        quiet_reason = await self._quiet_check(ws, live, route, now)
        if quiet_reason is not None:
            return quiet_reason
        never = live.never_fed(now)
        # A connection whose streams never fed is the per-stream case below
        # (resubscribe, fallback); silence after data flowed is a dead socket.
        if live.last_seen and live.connection_silent(now):
            await ws.close(1000, "silent")
            return f"no data for {self.silence_s:.0f} s on {route}"
        fresh = [s for s in never if s not in self._resubscribed]
        if fresh:
            self.events.on_silent(route, fresh)
            await self._resubscribe(ws, fresh)
            self._resubscribed.update(fresh)
            for s in fresh:  # give the resubscription a full period
                live.last_seen.pop(s, None)
            live.started_at = now
        elif never and len(never) == len(streams):
            await ws.close(1000, "streams silent")
            return f"every stream silent on {route} after resubscribing"
        return None

    async def _quiet_check(
        self,
        ws,  # type: ignore[no-untyped-def]
        live: StreamLiveness,
        route: str,
        now: float,
    ) -> str | None:
        """Streams that fed, then went quiet while others flow: name and resubscribe them.

        Returns a close reason (after closing) if one is still quiet a full
        threshold after its resubscription; updates `silent_now` for /health.
        """
        self.silent_now = set(live.silent_streams(now))
        quiet = live.went_quiet(now)
        again = [s for s in quiet if s in self._quiet]
        if again:
            await ws.close(1000, "stream quiet")
            return f"{', '.join(again)} still quiet after resubscribing"
        if quiet:
            self.quiet_resubscribes += 1
            if self.events.on_quiet is not None:
                self.events.on_quiet(route, quiet)
            await self._resubscribe(ws, quiet)
            self._quiet.update(quiet)
            for s in quiet:  # a full threshold from now for the resubscription
                live.last_seen[s] = time.monotonic()
        return None

    async def _resubscribe(self, ws, streams: list[str]) -> None:  # type: ignore[no-untyped-def]
        """UNSUBSCRIBE then SUBSCRIBE the silent streams (2 messages: within 10 msg/s)."""
        for i, method in enumerate(("UNSUBSCRIBE", "SUBSCRIBE")):
            await ws.send(json.dumps({"method": method, "params": streams, "id": 9000 + i}))
            await asyncio.sleep(0.2)


def _closed_reason(reader: asyncio.Future[None]) -> str:
    """Why the reader ended: the peer's close code, or the error that ended it.

    Raises:
        Exception: anything else the reader raised (a bug in a frame handler).
    """
    exc = reader.exception()
    if isinstance(exc, websockets.ConnectionClosed):
        return f"closed by peer ({exc.rcvd.code if exc.rcvd else 'no close frame'})"
    if exc is not None:
        raise exc
    return "closed"
