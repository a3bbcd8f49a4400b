"""Sinks against real local servers: HTTP (http.server) and SMTP (aiosmtpd); a JSON-lines file."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from quant_platform.alerts.engine import AlertEngine
from quant_platform.alerts.loop import AlertLoop
from quant_platform.alerts.rules import AlertRule
from quant_platform.alerts.sinks import (
    EmailSink,
    FileSink,
    LogSink,
    WebhookSink,
    build_sinks,
    deliver_sync,
)
from quant_platform.domain.alert import AlertEvent

EVENT = AlertEvent(
    "z",
    3,
    "zscore",
    "BTCUSDT/ETHUSDT",
    "critical",
    "BTCUSDT/ETHUSDT: z 3.1",
    {"zscore": 3.1, "n": float("nan")},
    1_700_000_000.0,
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Hook:
    """A local webhook receiver; `delay_s` makes it slow, `fail_first` returns 500s first."""

    def __init__(self, delay_s: float = 0.0, fail_first: int = 0) -> None:
        self.bodies: list[Any] = []
        self.delay_s = delay_s
        self.fail_first = fail_first
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server API
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if hook.delay_s:
                    time.sleep(hook.delay_s)
                if hook.fail_first > 0:
                    hook.fail_first -= 1
                    self.send_response(500)
                else:
                    hook.bodies.append(json.loads(body))
                    self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def hook() -> Iterator[Hook]:
    h = Hook()
    yield h
    h.close()


def test_webhook_payloads_arrive(hook: Hook) -> None:
    plain = WebhookSink(hook.url)
    slack = WebhookSink(hook.url, style="slack")
    tg = WebhookSink(hook.url, style="telegram", chat_id="-100")
    results = deliver_sync(EVENT, [plain, slack, tg], event_id=11)
    assert all(r.ok and r.attempts == 1 for r in results)
    by_kind = {("text" in b and "chat_id" not in b, "chat_id" in b): b for b in hook.bodies}
    body = by_kind[(False, False)]
    assert body["id"] == 11 and body["rule_name"] == "z" and body["target"] == "BTCUSDT/ETHUSDT"
    assert body["metrics"] == {"zscore": 3.1, "n": None} and body["severity"] == "critical"
    assert body["time"].startswith("2023-11-14T22:13:20")
    assert by_kind[(True, False)]["text"].startswith("[CRITICAL] z:")
    assert by_kind[(False, True)] == {
        "chat_id": "-100",
        "text": by_kind[(True, False)]["text"],
        "disable_web_page_preview": True,
    }


def test_webhook_retries_then_succeeds_and_records_failures() -> None:
    h = Hook(fail_first=2)
    try:
        r = asyncio.run(WebhookSink(h.url, retries=2, backoff_s=0.01).send(EVENT, 1))
        assert r.ok and r.attempts == 3 and len(h.bodies) == 1
        h.fail_first = 5
        r = asyncio.run(WebhookSink(h.url, retries=1, backoff_s=0.01).send(EVENT, 1))
        assert not r.ok and r.attempts == 2 and r.error == "HTTP 500"
    finally:
        h.close()
    down = asyncio.run(
        WebhookSink(
            f"http://127.0.0.1:{free_port()}/x", retries=1, backoff_s=0.01, timeout_s=1
        ).send(EVENT, 1)
    )
    assert not down.ok and down.attempts == 2 and "ConnectError" in (down.error or "")


def _loop_with(sinks: list[Any]) -> tuple[AlertLoop, dict]:
    """A loop whose z-score crosses every other cycle (no cooldown, no rate limit)."""
    snap = {"BTCUSDT/ETHUSDT": {"zscore": 0.0}}
    rule = AlertRule("z", "zscore", params={"k": 2.0}, cooldown_s=0)
    engine = AlertEngine([rule], per_rule_rate=None, global_rate=None)
    state = {"n": 0}

    def snapshot() -> dict:
        state["n"] += 1
        snap["BTCUSDT/ETHUSDT"]["zscore"] = 3.0 if state["n"] % 2 else 0.0
        return snap

    return AlertLoop(engine, snapshot, sinks=sinks, interval_s=0.05), state


async def _run_for(loop: AlertLoop, seconds: float) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(loop.run(stop))
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.wait_for(task, 2.0)


def test_slow_or_down_webhook_does_not_delay_the_cycle(tmp_path: Path) -> None:
    slow = Hook(delay_s=5.0)
    try:
        file_sink = FileSink(tmp_path / "alerts.jsonl")
        sinks = [
            WebhookSink(slow.url, timeout_s=10, retries=0),
            WebhookSink(f"http://127.0.0.1:{free_port()}/", retries=3, backoff_s=1.0),
            file_sink,
        ]
        loop, _ = _loop_with(sinks)
        t0 = time.monotonic()
        asyncio.run(_run_for(loop, 1.0))
        assert time.monotonic() - t0 < 3.0  # stopping does not wait for the slow server
    finally:
        slow.close()
    starts = list(loop.cycle_starts)
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert len(starts) >= 12 and max(gaps) < 0.25, gaps
    # the fast sink got every event meanwhile
    lines = (tmp_path / "alerts.jsonl").read_text().splitlines()
    assert len(lines) >= 5 and loop.engine.fired - len(lines) <= 1
    assert json.loads(lines[0])["rule_name"] == "z"


def test_slow_rule_reload_does_not_delay_the_cycle() -> None:
    class SlowStore:
        def list_rules(self, enabled_only: bool = False) -> list[AlertRule]:
            time.sleep(1.0)  # a database that answers slowly
            return [AlertRule("z", "zscore", params={"k": 2.0}, cooldown_s=0)]

        def insert_events(self, events: list[AlertEvent]) -> list[int]:
            return list(range(len(events)))

        def record_delivery(self, *args: Any) -> bool:
            return True

    loop, _ = _loop_with([])
    loop.store = SlowStore()
    loop.reload_every = 1
    asyncio.run(_run_for(loop, 0.8))
    starts = list(loop.cycle_starts)
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert len(starts) >= 10 and max(gaps) < 0.25, gaps


def test_full_queue_drops_and_counts() -> None:
    class Stuck:
        name = "stuck"

        async def send(self, event: AlertEvent, event_id: int | None = None) -> Any:
            await asyncio.sleep(60)

    loop, _ = _loop_with([Stuck()])
    loop.queue_size = 2
    asyncio.run(_run_for(loop, 0.6))
    assert loop.dropped["stuck"] >= 1


def test_file_and_log_sinks(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "sub" / "alerts.jsonl"
    sinks = build_sinks([{"type": "file", "path": str(path)}, "log"])
    with caplog.at_level("WARNING"):
        results = deliver_sync(EVENT, sinks, event_id=5)
        deliver_sync(EVENT, sinks[:1], event_id=6)
    assert [r.sink for r in results] == ["file", "log"] and all(r.ok for r in results)
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    assert [r["id"] for r in rows] == [5, 6] and rows[0]["metrics"]["n"] is None
    assert any("ALERT [CRITICAL] z" in rec.getMessage() for rec in caplog.records)
    bad = asyncio.run(FileSink(tmp_path).send(EVENT))  # a directory: cannot append
    assert not bad.ok and bad.error


def test_build_sinks_validates_and_filters() -> None:
    assert [type(s) for s in build_sinks(None)] == [LogSink]
    specs = [{"type": "log"}, {"type": "webhook", "url": "http://x/", "deliver_from": "dagster"}]
    assert [type(s) for s in build_sinks(specs, deliver_from="daemon")] == [LogSink]
    assert [type(s) for s in build_sinks(specs, deliver_from="dagster")] == [WebhookSink]
    with pytest.raises(ValueError, match="type 'pager'"):
        build_sinks([{"type": "pager"}])
    with pytest.raises(ValueError, match="sink #1 \\(webhook\\)"):
        build_sinks([{"type": "webhook", "url": "http://x/", "colour": "red"}])
    with pytest.raises(ValueError, match="style"):
        build_sinks([{"type": "webhook", "url": "http://x/", "style": "discord"}])


class _Collect:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(
            (
                envelope.mail_from,
                list(envelope.rcpt_tos),
                envelope.content.decode("utf-8", "replace"),
            )
        )
        return "250 OK"


def test_email_sink_against_real_smtp_server() -> None:
    handler = _Collect()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        sink = EmailSink("127.0.0.1", port, "qp@localhost", ["ops@localhost", "risk@localhost"])
        r = asyncio.run(sink.send(EVENT, 9))
        assert r.ok and r.sink == "email"
    finally:
        controller.stop()
    assert len(handler.messages) == 1
    sender, rcpts, content = handler.messages[0]
    assert sender == "qp@localhost" and rcpts == ["ops@localhost", "risk@localhost"]
    assert "Subject: [qp critical] z BTCUSDT/ETHUSDT" in content and '"id": 9' in content
    down = asyncio.run(EmailSink("127.0.0.1", free_port(), "a@b", "c@d", timeout_s=1).send(EVENT))
    assert not down.ok and "ConnectionRefused" in (down.error or "")


def test_dagster_deliver_uses_configured_sinks(
    hook: Hook, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import logging

    import quant_platform.config as config
    from quant_platform.orchestration.alerting.jobs import deliver

    rules = tmp_path / "alerts.yaml"
    rules.write_text(
        f"rules: []\nsinks:\n  - {{type: file, path: {tmp_path / 'd.jsonl'}}}\n"
        f"  - {{type: webhook, url: '{hook.url}', deliver_from: dagster}}\n"
    )
    settings = config.load_settings(alert_rules_file=rules)
    monkeypatch.setattr(config, "get_settings", lambda: settings)
    daemon_ev = EVENT.to_dict() | {"id": 1}
    out = deliver(daemon_ev, logging.getLogger("test"))
    # daemon events: only the sinks marked deliver_from: dagster (the daemon sent the rest)
    assert [o["sink"] for o in out] == ["log", "webhook:plain"]
    assert all(o["ok"] and o["via"] == "dagster" for o in out)
    out = deliver(daemon_ev | {"source": "dagster"}, logging.getLogger("test"))
    assert sorted(o["sink"] for o in out) == ["file", "log", "webhook:plain"]
    assert len(hook.bodies) == 2 and (tmp_path / "d.jsonl").exists()
