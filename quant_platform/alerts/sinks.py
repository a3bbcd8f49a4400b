"""Alert sinks: log, JSON-lines file, webhook (plain/Slack/Telegram), email over SMTP.

Every sink is `async send(event, event_id) -> DeliveryResult` and never raises:
the outcome (attempts, error, latency) is recorded with the event, and the
daemon runs each sink behind its own queue so a slow one only delays itself.

Sinks are configured as a list of specs, e.g. in the rules YAML file::

    sinks:
      - {type: log}
      - {type: file, path: .qp/alerts.jsonl}
      - {type: webhook, url: "https://hooks.slack.com/...", style: slack, timeout_s: 5}
      - {type: email, host: 127.0.0.1, port: 25, sender: qp@localhost, to: [ops@localhost]}

`deliver_from: daemon|dagster` (default daemon) chooses who delivers daemon
events through that sink, so nothing is sent twice; Dagster events always go
through every sink from the Dagster dispatch job.
"""

from __future__ import annotations

import asyncio
import json
import logging
import smtplib
import threading
import time
from collections.abc import Iterable, Mapping
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import yaml

from quant_platform.alerts.ports import Sink
from quant_platform.domain.alert import AlertEvent, DeliveryResult

log = logging.getLogger(__name__)
_LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "critical": logging.CRITICAL}


def text_of(event: AlertEvent) -> str:
    """One human line: severity, rule, message."""
    return f"[{event.severity.upper()}] {event.rule_name}: {event.message}"


def payload_of(event: AlertEvent, event_id: int | None) -> dict[str, Any]:
    d = event.to_dict()
    d["id"] = event_id
    return d


class LogSink:
    """Logs at the event's severity (critical -> CRITICAL)."""

    def __init__(self, name: str = "log", logger: logging.Logger | None = None) -> None:
        self.name = name
        self.logger = logger or logging.getLogger("quant_platform.alerts.fired")

    async def send(self, event: AlertEvent, event_id: int | None = None) -> DeliveryResult:
        t0 = time.perf_counter()
        self.logger.log(_LEVELS.get(event.severity, logging.WARNING), "ALERT %s", text_of(event))
        return DeliveryResult(self.name, True, 1, None, (time.perf_counter() - t0) * 1000)


class FileSink:
    """Appends one JSON object per line; a thread does the write so the loop never blocks."""

    def __init__(self, path: str | Path, name: str = "file") -> None:
        self.path = Path(path)
        self.name = name
        self._lock = threading.Lock()

    def _write(self, line: str) -> None:
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(line + "\n")

    async def send(self, event: AlertEvent, event_id: int | None = None) -> DeliveryResult:
        t0 = time.perf_counter()
        try:
            await asyncio.to_thread(self._write, json.dumps(payload_of(event, event_id)))
        except OSError as exc:
            return DeliveryResult(
                self.name,
                False,
                1,
                f"{type(exc).__name__}: {exc}",
                (time.perf_counter() - t0) * 1000,
            )
        return DeliveryResult(self.name, True, 1, None, (time.perf_counter() - t0) * 1000)


class WebhookSink:
    """JSON POST with per-attempt timeout and retries (exponential backoff).

    Retries on connection errors, timeouts, 429 and 5xx; a 4xx other than 429
    is a configuration problem and is not retried.
    """

    STYLES = ("plain", "slack", "telegram")

    def __init__(
        self,
        url: str,
        style: str = "plain",
        timeout_s: float = 5.0,
        retries: int = 2,
        backoff_s: float = 0.5,
        headers: Mapping[str, str] | None = None,
        chat_id: str | None = None,
        name: str | None = None,
    ) -> None:
        if style not in self.STYLES:
            raise ValueError(f"webhook style {style!r}: use one of {', '.join(self.STYLES)}")
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"webhook url {url!r} must start with http:// or https://")
        if style == "telegram" and not chat_id:
            raise ValueError("a telegram webhook needs chat_id")
        self.url = url
        self.style = style
        self.timeout_s = float(timeout_s)
        self.retries = max(0, int(retries))
        self.backoff_s = float(backoff_s)
        self.headers = dict(headers or {})
        self.chat_id = chat_id
        self.name = name or f"webhook:{style}"
        # Loading the CA bundle blocks for 0.1-0.3 s: do it once here, at wiring
        # time, not on the event loop at every send (it delayed the 500 ms alert cycle).
        self._ssl = httpx.create_ssl_context()

    def payload(self, event: AlertEvent, event_id: int | None) -> dict[str, Any]:
        if self.style == "slack":
            return {"text": text_of(event)}
        if self.style == "telegram":
            return {
                "chat_id": self.chat_id,
                "text": text_of(event),
                "disable_web_page_preview": True,
            }
        return payload_of(event, event_id)

    async def send(self, event: AlertEvent, event_id: int | None = None) -> DeliveryResult:
        body = self.payload(event, event_id)
        t0 = time.perf_counter()
        error: str | None = None
        attempts = 0
        async with httpx.AsyncClient(timeout=self.timeout_s, verify=self._ssl) as client:
            for attempt in range(self.retries + 1):
                attempts = attempt + 1
                try:
                    resp = await client.post(self.url, json=body, headers=self.headers)
                    if resp.status_code < 300:
                        return DeliveryResult(
                            self.name, True, attempts, None, (time.perf_counter() - t0) * 1000
                        )
                    error = f"HTTP {resp.status_code}"
                    if resp.status_code < 500 and resp.status_code != 429:
                        break
                except httpx.HTTPError as exc:
                    error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                if attempt < self.retries:
                    await asyncio.sleep(self.backoff_s * (2**attempt))
        log.warning("webhook %s failed after %d attempt(s): %s", self.name, attempts, error)
        return DeliveryResult(self.name, False, attempts, error, (time.perf_counter() - t0) * 1000)


class EmailSink:
    """Plain-text email over SMTP (smtplib in a worker thread), optional STARTTLS and login."""

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        to: Iterable[str] | str,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        timeout_s: float = 10.0,
        name: str = "email",
    ) -> None:
        self.host = host
        self.port = int(port)
        self.sender = sender
        self.to = [to] if isinstance(to, str) else list(to)
        if not self.to:
            raise ValueError("an email sink needs at least one recipient in `to`")
        self.username = username
        self.password = password
        self.starttls = starttls
        self.timeout_s = timeout_s
        self.name = name

    def message(self, event: AlertEvent, event_id: int | None) -> EmailMessage:
        msg = EmailMessage()
        msg["Subject"] = f"[qp {event.severity}] {event.rule_name} {event.target}"
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.to)
        msg.set_content(text_of(event) + "\n\n" + json.dumps(payload_of(event, event_id), indent=2))
        return msg

    def _send_sync(self, msg: EmailMessage) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.send_message(msg)

    async def send(self, event: AlertEvent, event_id: int | None = None) -> DeliveryResult:
        t0 = time.perf_counter()
        try:
            await asyncio.to_thread(self._send_sync, self.message(event, event_id))
        except (OSError, smtplib.SMTPException) as exc:
            log.warning("email sink %s failed: %s", self.name, exc)
            return DeliveryResult(
                self.name,
                False,
                1,
                f"{type(exc).__name__}: {exc}",
                (time.perf_counter() - t0) * 1000,
            )
        return DeliveryResult(self.name, True, 1, None, (time.perf_counter() - t0) * 1000)


_BUILDERS: dict[str, Any] = {
    "log": LogSink,
    "file": FileSink,
    "webhook": WebhookSink,
    "email": EmailSink,
}


def build_sinks(
    specs: Iterable[Mapping[str, Any] | str] | None, deliver_from: str | None = None
) -> list[Sink]:
    """Sinks from specs (`{type: ..., ...}` or just "log"); `deliver_from` filters.

    With no specs the log sink alone is used. A bad spec raises ValueError
    naming the sink, so a typo stops the process at start, not at the first alert.

    Raises:
        ValueError: a spec has an unknown type or bad options, naming the spec's position.
    """
    specs = list(specs) if specs else [{"type": "log"}]
    sinks: list[Sink] = []
    for i, spec in enumerate(specs):
        s = {"type": spec} if isinstance(spec, str) else dict(spec)
        kind = s.pop("type", None)
        who = s.pop("deliver_from", "daemon")
        if who not in ("daemon", "dagster"):
            raise ValueError(f"sink #{i + 1}: deliver_from must be daemon or dagster")
        if kind not in _BUILDERS:
            raise ValueError(f"sink #{i + 1}: type {kind!r} is not one of {', '.join(_BUILDERS)}")
        if deliver_from is not None and who != deliver_from:
            continue
        try:
            sinks.append(_BUILDERS[kind](**s))
        except TypeError as exc:
            raise ValueError(f"sink #{i + 1} ({kind}): {exc}") from None
    return sinks


def load_sink_specs(path: str | Path | None) -> list[dict[str, Any]]:
    """The `sinks:` list of a rules YAML file ([] when absent).

    Raises:
        ValueError: `sinks:` is not a list.
    """
    if path is None or not Path(path).exists():
        return []
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    specs = data.get("sinks", []) if isinstance(data, dict) else []
    if not isinstance(specs, list):
        raise ValueError(f"{path}: `sinks` must be a list")
    return specs


def deliver_sync(
    event: AlertEvent, sinks: Iterable[Sink], event_id: int | None = None
) -> list[DeliveryResult]:
    """Deliver through all sinks concurrently from synchronous code (the Dagster op)."""

    async def _all() -> list[DeliveryResult]:
        return list(await asyncio.gather(*(s.send(event, event_id) for s in sinks)))

    return asyncio.run(_all())
