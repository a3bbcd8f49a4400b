"""Scheduled reports: YAML -> one Dagster schedule each; a run delivers through a real SMTP
server (aiosmtpd) and a real HTTP webhook with the HTML attached; empty spans say so."""

from __future__ import annotations

import email
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg
import pytest
from aiosmtpd.controller import Controller
from dagster import DagsterInstance, Definitions, build_schedule_context

from quant_platform.orchestration.scheduled_reports import (
    build_report_schedules,
    scheduled_report_job,
)
from quant_platform.reporting.archive import list_reports
from quant_platform.reporting.definitions import ReportDefinitionError, parse_definitions
from quant_platform.services.local import free_port
from quant_platform_tests.pair_seed import seed_pair


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201, N802
        self.messages.append(envelope.content)
        return "250 OK"


@pytest.fixture()
def smtp() -> Iterator[tuple[int, _Mailbox]]:
    box = _Mailbox()
    port = free_port()
    ctl = Controller(box, hostname="127.0.0.1", port=port)
    ctl.start()
    yield port, box
    ctl.stop()


@pytest.fixture()
def webhook() -> Iterator[tuple[str, list[dict]]]:
    got: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            n = int(self.headers["Content-Length"])
            got.append(json.loads(self.rfile.read(n)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/hook", got
    srv.shutdown()
    srv.server_close()


def _yaml(tmp_path: Path, smtp_port: int, hook: str) -> Path:
    path = tmp_path / "reports.yaml"
    path.write_text(
        f"""
reports:
  - name: eth-btc-morning
    pairs: [ETHUSDT/BTCUSDT]
    timeframe: 1m
    lookback: 1d
    sections: [statistics, backtest, alerts, data_quality]
    cron: "0 7 * * *"
    recipients:
      - {{type: email, host: 127.0.0.1, port: {smtp_port}, sender: qp@localhost,
          to: [quant@localhost]}}
      - {{type: webhook, url: "{hook}", style: plain, retries: 0}}
    link_base: http://127.0.0.1:8501
  - name: top-pairs-hourly
    top: 3
    lookback: 6h
    sections: [data_quality]
    cron: "5 * * * *"
"""
    )
    return path


def test_yaml_definitions_become_one_schedule_each(tmp_path: Path, resources: dict) -> None:
    path = _yaml(tmp_path, 25, "http://127.0.0.1:9/hook")
    schedules = build_report_schedules(str(path))
    assert [(s.name, s.cron_schedule) for s in schedules] == [
        ("report_eth_btc_morning", "0 7 * * *"),
        ("report_top_pairs_hourly", "5 * * * *"),
    ]
    defs = Definitions(jobs=[scheduled_report_job], schedules=schedules, resources=resources)
    repo = defs.get_repository_def()
    assert {s.name for s in repo.schedule_defs} == {
        "report_eth_btc_morning",
        "report_top_pairs_hourly",
    }
    with DagsterInstance.ephemeral() as instance:
        ctx = build_schedule_context(
            instance=instance, scheduled_execution_time=datetime(2026, 11, 2, 7, tzinfo=UTC)
        )
        req = schedules[0].evaluate_tick(ctx).run_requests[0]
    cfg = req.run_config["ops"]["scheduled_report_op"]["config"]
    assert cfg["name"] == "eth-btc-morning" and cfg["end"].startswith("2026-11-02T07:00")
    assert req.run_key == "eth-btc-morning:20261102T0700"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"name": "x", "cron": "nope", "pairs": ["A/B"]}, "report 'x'.cron: 'nope'"),
        ({"name": "x", "cron": "0 7 * * *"}, "exactly one of `pairs"),
        ({"name": "x", "cron": "0 7 * * *", "top": 3, "colour": 1}, "unknown key(s) colour"),
        (
            {"name": "x", "cron": "0 7 * * *", "top": 3, "sections": ["pnl"]},
            "report 'x'.sections",
        ),
        (
            {"name": "x", "cron": "0 7 * * *", "top": 3, "recipients": [{"type": "pager"}]},
            "report 'x'.recipients: sink #1: type 'pager'",
        ),
        ({"name": "x", "cron": "0 7 * * *", "top": 3, "lookback": "soon"}, "lookback: 'soon'"),
    ],
)
def test_bad_definitions_name_the_report_and_key(spec: dict, message: str) -> None:
    with pytest.raises(ReportDefinitionError) as err:
        parse_definitions({"reports": [spec]})
    assert message in str(err.value)


def test_scheduled_run_delivers_email_with_html_and_webhook_with_link(
    db: psycopg.Connection,
    resources: dict,
    tmp_path: Path,
    smtp: tuple[int, _Mailbox],
    webhook: tuple[str, list[dict]],
) -> None:
    seed_pair(db, n=2880)  # ETHUSDT/BTCUSDT 2026-11-01 .. 02
    port, box = smtp
    hook, posts = webhook
    path = _yaml(tmp_path, port, hook)
    result = scheduled_report_job.execute_in_process(
        run_config={
            "ops": {
                "scheduled_report_op": {
                    "config": {
                        "name": "eth-btc-morning",
                        "end": "2026-11-02T12:00:00+00:00",
                        "reports_file": str(path),
                    }
                }
            }
        },
        resources=resources,
    )
    assert result.success
    assert len(box.messages) == 1
    msg = email.message_from_bytes(box.messages[0])
    assert msg["To"] == "quant@localhost" and "eth-btc-morning" in msg["Subject"]
    parts = {p.get_content_type(): p for p in msg.walk() if not p.is_multipart()}
    assert "text/html" in parts, list(parts)
    attached = parts["text/html"]
    assert attached.get_filename() == "eth-btc-morning_20261102T1200.html"
    page = attached.get_payload(decode=True).decode()
    assert "Report eth-btc-morning: 1 pair(s)" in page
    for title in ("Pair statistics", "Backtest", "Alerts", "Data quality", "ETHUSDT/BTCUSDT"):
        assert title in page, title
    body = parts["text/plain"].get_payload(decode=True).decode()
    assert body.startswith("Report eth-btc-morning") and "trades, net P&L" in body

    assert len(posts) == 1
    post = posts[0]
    assert post["report"] == "eth-btc-morning" and post["has_data"] is True
    assert post["link"] == "http://127.0.0.1:8501/reports?report=eth-btc-morning&at=20261102T1200"
    assert "trades, net P&L" in post["summary"]

    past = list_reports(Path(resources["platform"].reports_dir))
    assert [r["name"] for r in past] == ["eth-btc-morning"]
    assert [d["ok"] for d in past[0]["deliveries"]] == [True, True]
    assert Path(past[0]["path"]).read_text() == page


def test_report_over_an_empty_span_says_so_first_and_reports_data_quality(
    database_url: str, db: psycopg.Connection, tmp_path: Path
) -> None:
    seed_pair(db, n=60)  # an hour on 2026-11-01: the latest bar the quality table points to
    path = _yaml(tmp_path, 25, "http://127.0.0.1:9/hook")
    env = {
        **os.environ,
        "QP_DATABASE_URL": database_url,
        "QP_REPORTS_FILE": str(path),
        "QP_DATA_DIR": str(tmp_path / "qp"),
    }
    qp = str(Path(sys.executable).parent / "qp")
    listed = subprocess.run(
        [qp, "reports", "list"], env=env, capture_output=True, text=True, timeout=120
    )
    assert listed.returncode == 0, listed.stderr
    assert "eth-btc-morning" in listed.stdout and "top-pairs-hourly" in listed.stdout
    proc = subprocess.run(
        [qp, "reports", "run", "eth-btc-morning", "--end", "2026-10-01T00:00", "--no-deliver"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    first = proc.stdout.splitlines()[0]
    assert first.startswith("No data: no 1m bars for ETHUSDT, BTCUSDT between 2026-09-30 00:00")
    html_path = Path(proc.stdout.splitlines()[1].removeprefix("written "))
    page = html_path.read_text()
    assert page.index("No data:") < page.index("<h1>")  # the first thing the page says
    assert "Data quality" in page and "2026-11-01T00:59:00+00:00" in page  # latest stored bar
    missing = subprocess.run(
        [qp, "reports", "run", "nope"], env=env, capture_output=True, text=True, timeout=120
    )
    assert missing.returncode == 2 and "no report named 'nope'" in missing.stderr
