"""Deliver a report through the alert sinks' configurations: email with the HTML attached,
chat webhook with the summary and a link, file/log sinks with the summary.

The recipients are the same sink specs as alerts (`alerts/sinks.py`), built
with `build_sinks`, so a report goes wherever an alert can; this module only
shapes the message for a report (an attachment instead of an event dump).
"""

from __future__ import annotations

import asyncio
import json
import smtplib
import time
from collections.abc import Iterable, Mapping
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx

from quant_platform.alerts.sinks import EmailSink, FileSink, LogSink, WebhookSink, build_sinks
from quant_platform.domain.alert import DeliveryResult
from quant_platform.reporting.build import Report


def email_message(sink: EmailSink, report: Report, html_text: str, link: str) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = f"[qp report] {report.name} {report.end:%Y-%m-%d %H:%M} UTC"
    msg["From"] = sink.sender
    msg["To"] = ", ".join(sink.to)
    msg.set_content(f"{report.summary}\n\nFull report attached; also at {link}\n")
    msg.add_attachment(
        html_text.encode("utf-8"),
        maintype="text",
        subtype="html",
        filename=f"{report.name}_{report.end:%Y%m%dT%H%M}.html",
    )
    return msg


def _send_email(sink: EmailSink, msg: EmailMessage) -> None:
    with smtplib.SMTP(sink.host, sink.port, timeout=sink.timeout_s) as smtp:
        if sink.starttls:
            smtp.starttls()
        if sink.username:
            smtp.login(sink.username, sink.password or "")
        smtp.send_message(msg)


def webhook_body(sink: WebhookSink, report: Report, link: str) -> dict[str, Any]:
    text = f"{report.summary}\n{link}"
    if sink.style == "slack":
        return {"text": text}
    if sink.style == "telegram":
        return {"chat_id": sink.chat_id, "text": text, "disable_web_page_preview": True}
    return {
        "report": report.name,
        "end": report.end.isoformat(),
        "has_data": report.has_data,
        "summary": report.summary,
        "link": link,
    }


async def _post(sink: WebhookSink, body: dict[str, Any]) -> tuple[bool, int, str | None]:
    error: str | None = None
    attempts = 0
    async with httpx.AsyncClient(timeout=sink.timeout_s) as client:
        for attempt in range(sink.retries + 1):
            attempts = attempt + 1
            try:
                resp = await client.post(sink.url, json=body, headers=sink.headers)
                if resp.status_code < 300:
                    return True, attempts, None
                error = f"HTTP {resp.status_code}"
                if resp.status_code < 500 and resp.status_code != 429:
                    break
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            if attempt < sink.retries:
                await asyncio.sleep(sink.backoff_s * (2**attempt))
    return False, attempts, error


async def _deliver_one(sink: object, report: Report, html_text: str, link: str) -> DeliveryResult:
    t0 = time.perf_counter()
    name = getattr(sink, "name", type(sink).__name__)
    try:
        if isinstance(sink, EmailSink):
            await asyncio.to_thread(_send_email, sink, email_message(sink, report, html_text, link))
        elif isinstance(sink, WebhookSink):
            ok, attempts, err = await _post(sink, webhook_body(sink, report, link))
            return DeliveryResult(name, ok, attempts, err, (time.perf_counter() - t0) * 1000)
        elif isinstance(sink, FileSink):
            line = json.dumps({"report": report.name, "summary": report.summary, "link": link})
            await asyncio.to_thread(_append, Path(sink.path), line)
        elif isinstance(sink, LogSink):
            sink.logger.info("report %s: %s (%s)", report.name, report.first_line, link)
    except (OSError, smtplib.SMTPException) as exc:
        return DeliveryResult(name, False, 1, f"{type(exc).__name__}: {exc}", 0.0)
    return DeliveryResult(name, True, 1, None, (time.perf_counter() - t0) * 1000)


def _append(path: Path, line: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(line + "\n")


def deliver_report(
    report: Report, html_text: str, link: str, recipients: Iterable[Mapping[str, Any]]
) -> list[DeliveryResult]:
    """Send through every recipient concurrently; never raises for a failed delivery."""
    specs = [{k: v for k, v in r.items() if k != "deliver_from"} for r in recipients]
    sinks = build_sinks(specs) if specs else []

    async def _all() -> list[DeliveryResult]:
        return list(
            await asyncio.gather(*(_deliver_one(s, report, html_text, link) for s in sinks))
        )

    return asyncio.run(_all()) if sinks else []
