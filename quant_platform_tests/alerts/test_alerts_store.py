"""AlertStore against the real database; AlertStream against the real Redis."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis as redis_lib

from quant_platform.alerts.engine import AlertEngine
from quant_platform.alerts.loop import AlertLoop
from quant_platform.alerts.redis_stream import AlertStream, append_sync
from quant_platform.alerts.rules import AlertRule, RuleError
from quant_platform.alerts.sinks import DeliveryResult
from quant_platform.alerts.snapshot import RedisSnapshotSource
from quant_platform.alerts.store import AlertStore, RuleExists
from quant_platform.domain.alert import AlertEvent
from quant_platform.orchestration.alerting.jobs import parse_entry
from quant_platform.storage.redis_keys import RedisKeys


def test_rules_crud(db: psycopg.Connection, database_url: str) -> None:
    store = AlertStore(database_url)
    z = store.create_rule(AlertRule("z", "zscore", params={"k": 2.5}, severity="critical"))
    assert z.id is not None and z.cooldown_s == 60.0  # the store's default
    short = AlertStore(database_url, default_cooldown_s=15).create_rule(AlertRule("s", "zscore"))
    assert short.cooldown_s == 15.0
    assert store.delete_rule("s")
    c = store.create_rule(AlertRule("c", "custom", expression="abs(z) > 2", cooldown_s=5))
    with pytest.raises(RuleExists):
        store.create_rule(AlertRule("z", "zscore"))
    assert [r.name for r in store.list_rules()] == ["c", "z"]
    got = store.get_rule("c")
    assert got is not None and got.expression == "abs(z) > 2" and got.cooldown_s == 5.0
    assert got.compiled is not None and got.id == c.id
    assert store.set_enabled("z", False) is True
    assert store.set_enabled("missing", False) is False
    assert [r.name for r in store.list_rules(enabled_only=True)] == ["c"]
    updated = store.upsert_rule(AlertRule("c", "custom", expression="abs(z) > 3"))
    assert updated.id == c.id and updated.expression == "abs(z) > 3"
    assert store.delete_rule("c") is True and store.delete_rule("c") is False
    assert store.get_rule("c") is None
    # a row edited into an invalid state elsewhere is skipped, not fatal
    db.execute(
        "INSERT INTO alert_rules (name, kind, params) VALUES ('bad', 'zscore', "
        "'{\"k\": -1}'::jsonb)"
    )
    assert [r.name for r in store.list_rules()] == ["z"]


def test_load_yaml_is_all_or_nothing(
    db: psycopg.Connection, database_url: str, tmp_path: Path
) -> None:
    store = AlertStore(database_url)
    p = tmp_path / "rules.yaml"
    p.write_text(
        "rules:\n  - {name: a, kind: zscore, params: {k: 2}}\n"
        "  - {name: b, kind: volatility_spike, params: {k: 3}, severity: info}\n"
    )
    assert [r.name for r in store.load_yaml(p)] == ["a", "b"]
    p.write_text(
        "rules:\n  - {name: a, kind: zscore, params: {k: 4}}\n"
        "  - {name: c, kind: custom, expression: 'open(1)'}\n"
    )
    with pytest.raises(RuleError, match="expression"):
        store.load_yaml(p)
    assert store.get_rule("a").params == {"k": 2.0}  # unchanged
    assert store.get_rule("c") is None


def test_events_and_deliveries(db: psycopg.Connection, database_url: str) -> None:
    store = AlertStore(database_url)
    e1 = AlertEvent(
        "z",
        None,
        "zscore",
        "BTCUSDT/ETHUSDT",
        "warning",
        "z high",
        {"zscore": 3.1, "bad": float("nan"), "big": float("inf")},
        1_700_000_000.5,
    )
    e2 = AlertEvent(
        "z",
        None,
        "zscore",
        "BNBUSDT/SOLUSDT",
        "critical",
        "z higher",
        {"zscore": -4.0},
        1_700_000_001.0,
    )
    ids = store.insert_events([e1, e2])
    assert len(ids) == 2 and ids[0] < ids[1]
    assert store.record_delivery(ids[0], DeliveryResult("log", True, 1, None, 0.2), e1.time_dt)
    assert store.record_delivery(
        ids[0],
        {"sink": "webhook", "ok": False, "attempts": 3, "error": "HTTP 500", "latency_ms": 12.0},
    )
    recent = store.recent(10)
    assert [r["id"] for r in recent] == [ids[1], ids[0]]
    ev = recent[1]
    assert ev["metrics"] == {"zscore": 3.1, "bad": None, "big": "inf"}
    assert ev["source"] == "daemon" and ev["time"].timestamp() == 1_700_000_000.5
    assert [d["sink"] for d in ev["deliveries"]] == ["log", "webhook"]
    assert ev["deliveries"][1]["error"] == "HTTP 500" and ev["deliveries"][0]["ok"] is True
    assert store.recent(1)[0]["id"] == ids[1]


def test_stream_entry_matches_dagster_layout(redis_url: str, redis_prefix: str) -> None:
    keys = RedisKeys(redis_prefix)
    ev = AlertEvent(
        "z",
        7,
        "zscore",
        "BTCUSDT/ETHUSDT",
        "warning",
        "z high",
        {"zscore": 3.1, "x": float("nan")},
        1_700_000_000.0,
    )

    async def go() -> list[str]:
        stream = AlertStream(redis_url, keys)
        try:
            return await stream.append([(42, ev), (None, ev)])
        finally:
            await stream.aclose()

    assert len(asyncio.run(go())) == 2
    client = redis_lib.Redis.from_url(redis_url, decode_responses=True)
    entries = client.xrange(keys.alerts_stream)
    fields = entries[0][1]
    assert set(fields) == {
        "id",
        "time",
        "rule_name",
        "kind",
        "target",
        "severity",
        "message",
        "metrics",
        "source",
    }
    parsed = parse_entry(fields)
    assert parsed["id"] == 42 and parsed["source"] == "daemon"
    assert parsed["metrics"] == {"zscore": 3.1, "x": None}
    assert parse_entry(entries[1][1])["id"] is None
    assert AlertEvent.from_dict(parsed).time == 1_700_000_000.0


def test_stream_redis_down_is_skipped() -> None:
    ev = AlertEvent("z", None, "zscore", "BTCUSDT/ETHUSDT", "warning", "m", {}, 1.0)
    stream = AlertStream("redis://127.0.0.1:1/0", RedisKeys("x:"), timeout_s=0.2)
    assert asyncio.run(stream.append([(1, ev)])) == []
    assert asyncio.run(stream.append([(1, ev)])) == []


def test_loop_persists_streams_and_reloads(
    db: psycopg.Connection, database_url: str, redis_url: str, redis_prefix: str
) -> None:
    store = AlertStore(database_url)
    store.create_rule(AlertRule("z", "zscore", params={"k": 2.0}))
    keys = RedisKeys(redis_prefix)
    snap = {"BTCUSDT/ETHUSDT": {"zscore": 3.0}}

    async def go() -> None:
        stream = AlertStream(redis_url, keys)
        loop = AlertLoop(
            AlertEngine([], per_rule_rate=None, global_rate=None),
            lambda: snap,
            store=store,
            stream=stream,
            sinks=[],
            interval_s=0.05,
        )
        assert await loop.reload_rules()
        fired = await loop.run_cycle()
        assert len(fired) == 1 and fired[0][0] is not None
        # rule edited elsewhere (e.g. disabled from the CLI): picked up on reload
        store.set_enabled("z", False)
        await loop.reload_rules()
        assert loop.engine.rules == ()
        await stream.aclose()

    asyncio.run(go())
    rows = store.recent(5)
    assert (
        len(rows) == 1 and rows[0]["rule_id"] is not None and rows[0]["target"] == "BTCUSDT/ETHUSDT"
    )
    entries = redis_lib.Redis.from_url(redis_url, decode_responses=True).xrange(keys.alerts_stream)
    assert [json.loads(f["metrics"])["zscore"] for _, f in entries] == [3.0]
    assert entries[0][1]["id"] == str(rows[0]["id"])


def test_loop_keeps_events_when_database_is_down() -> None:
    store = AlertStore("postgresql://qp@127.0.0.1:1/none", connect_timeout_s=1)
    snap = {"BTCUSDT/ETHUSDT": {"zscore": 3.0}}
    rule = AlertRule("z", "zscore", params={"k": 2.0}, cooldown_s=0)

    async def go() -> AlertLoop:
        loop = AlertLoop(
            AlertEngine([rule], per_rule_rate=None, global_rate=None),
            lambda: snap,
            store=store,
            interval_s=0.05,
            retry_limit=3,
        )
        fired = await loop.run_cycle()
        assert fired and fired[0][0] is None
        for z in (0.0, 3.0, 0.0, 3.0, 0.0, 3.0):
            snap["BTCUSDT/ETHUSDT"]["zscore"] = z
            await loop.run_cycle()
        return loop

    loop = asyncio.run(go())
    assert len(loop.retry) == 3  # bounded


def test_cli_round_trip(
    db: psycopg.Connection, settings: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from quant_platform.cli.main import build_parser

    def qp(*argv: str) -> int:
        args = build_parser().parse_args(["alerts", *argv])
        return args.func(args, settings)

    assert qp("add", "--name", "z", "--kind", "zscore", "-p", "k=2.5", "-p", "direction=above") == 0
    assert (
        qp(
            "add",
            "c",
            "--kind",
            "custom",
            "-e",
            "abs(z) > 2 and adf_p < 0.05",
            "--severity",
            "critical",
            "--cooldown",
            "30",
            "--repeat",
            "120",
        )
        == 0
    )
    assert qp("add", "z", "--kind", "zscore") == 1  # exists
    capsys.readouterr()
    assert qp("add", "--kind", "zscore") == 2  # no name
    assert "name" in capsys.readouterr().err
    assert (
        qp("add", "--name", "bad", "--kind", "custom", "--expr", "abs(z) > 2 and z.real > 1") == 2
    )
    err = capsys.readouterr().err.splitlines()
    assert "attribute access" in err[0]
    assert err[2].index("^") - err[1].index("a") == len("abs(z) > 2 and z")
    assert qp("disable", "z") == 0 and qp("enable", "nope") == 1
    capsys.readouterr()
    assert qp("list", "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(r["name"], r["enabled"]) for r in listed] == [("c", True), ("z", False)]
    assert listed[1]["params"] == {"k": 2.5, "direction": "above"}
    # --repeat is stored and read back (the engine re-fires every 120 s while active)
    assert listed[0]["repeat_s"] == 120.0 and "repeat_s" not in listed[1]
    y = tmp_path / "r.yaml"
    y.write_text("rules:\n  - {name: v, kind: volatility_spike, params: {k: 3}}\n")
    assert qp("load", str(y)) == 0
    assert qp("delete", "c") == 0 and qp("delete", "c") == 1
    capsys.readouterr()
    assert qp("list") == 0
    out = capsys.readouterr().out
    assert "volatility_spike" in out and " c " not in out
    # a header row names the columns, and each column starts where its header does
    header, *rows = out.splitlines()
    assert header.split() == [
        "on",
        "name",
        "kind",
        "target",
        "severity",
        "cooldown",
        "repeat",
        "condition",
    ]
    v = next(r for r in rows if " v " in r)
    assert v.index("volatility_spike") == header.index("kind")
    assert v.index("60s") == header.index("cooldown")
    AlertStore(settings.database_url).insert_event(
        AlertEvent("v", None, "volatility_spike", "BTCUSDT", "info", "BTCUSDT: spike", {}, 1e9)
    )
    assert qp("events", "-n", "5") == 0
    assert "BTCUSDT: spike" in capsys.readouterr().out


def test_build_alert_loop_from_settings(
    db: psycopg.Connection, settings: Any, tmp_path: Path
) -> None:
    from quant_platform.alerts.sinks import FileSink, LogSink
    from quant_platform.alerts.wiring import build_alert_loop

    store = AlertStore(settings.database_url)
    store.create_rule(AlertRule("z", "zscore", params={"k": 9.0}, enabled=False))  # edited
    y = tmp_path / "alerts.yaml"
    y.write_text(
        f"rules:\n  - {{name: z, kind: zscore, params: {{k: 2}}}}\n"
        f"  - {{name: v, kind: volatility_spike, params: {{k: 3}}}}\n"
        f"sinks:\n  - log\n  - {{type: file, path: {tmp_path / 'a.jsonl'}}}\n"
        f"  - {{type: webhook, url: 'http://127.0.0.1:9/', deliver_from: dagster}}\n"
    )
    s = settings.model_copy(update={"alert_rules_file": y})
    loop = build_alert_loop(s, dict)
    assert [r.name for r in loop.engine.rules] == ["v"]  # z kept as edited (disabled)
    assert store.get_rule("z").params == {"k": 9.0}
    assert [type(x) for x in loop.sinks] == [LogSink, FileSink]
    assert loop.interval_s == s.alert_interval_s
    assert loop.engine.default_cooldown_s == s.alert_cooldown_s


def test_append_sync_for_dagster_callers(redis_url: str, redis_prefix: str) -> None:
    keys = RedisKeys(redis_prefix)
    client = redis_lib.Redis.from_url(redis_url)
    ev = AlertEvent(
        "stale",
        None,
        "stale_feed",
        "BTCUSDT",
        "critical",
        "no trades",
        {},
        1_700_000_000.0,
        source="dagster",
    )
    ids = append_sync(client, keys, [(3, ev)])
    assert len(ids) == 1
    fields = client.xrange(keys.alerts_stream)[0][1]
    assert parse_entry({k.decode(): v.decode() for k, v in fields.items()})["source"] == "dagster"


def test_snapshot_from_the_analytics_cache(redis_url: str, redis_prefix: str) -> None:
    keys = RedisKeys(redis_prefix)
    client = redis_lib.Redis.from_url(redis_url)
    now = 1_700_000_000.0
    client.set(
        keys.pair_analytics("BTCUSDT", "ETHUSDT"),
        json.dumps({"zscore": 3.2, "half_life": None, "computed_at": now - 1}),
    )
    client.set(
        keys.pair_analytics("BNBUSDT", "SOLUSDT"),
        json.dumps({"zscore": 9.0, "computed_at": now - 100}),
    )  # stale
    client.set(keys.symbol_analytics("BTCUSDT"), json.dumps({"vol_ratio": 4.0, "price": 1}))
    client.set(keys.symbol_analytics("ETHUSDT"), "not json")
    source = RedisSnapshotSource(
        redis_url,
        keys,
        [("BTCUSDT", "ETHUSDT"), ("BNBUSDT", "SOLUSDT")],
        ["BTCUSDT", "ETHUSDT", "SOLUSDT"],
        max_age_s=30,
        clock=lambda: now,
    )
    rules = [
        AlertRule("z", "zscore", params={"k": 2.0}),
        AlertRule("v", "volatility_spike", params={"k": 3.0}),
    ]

    async def go() -> tuple[dict, list]:
        snap = await source()
        loop = AlertLoop(AlertEngine(rules, per_rule_rate=None, global_rate=None), source)
        fired = await loop.run_cycle()  # an async snapshot function is awaited
        await source.aclose()
        return snap, fired

    snap, fired = asyncio.run(go())
    assert snap == {"BTCUSDT/ETHUSDT": {"zscore": 3.2}, "BTCUSDT": {"vol_ratio": 4.0, "price": 1.0}}
    assert sorted((e.rule_name, e.target) for _, e in fired) == [
        ("v", "BTCUSDT"),
        ("z", "BTCUSDT/ETHUSDT"),
    ]
    down = RedisSnapshotSource("redis://127.0.0.1:1/0", keys, [], ["BTCUSDT"], timeout_s=0.2)
    assert asyncio.run(down()) == {}


def test_loop_backs_off_a_down_database_then_persists_the_backlog() -> None:
    class FlakyStore:
        def __init__(self) -> None:
            self.up = False
            self.calls = 0
            self.saved: list[AlertEvent] = []

        def insert_events(self, events: list[AlertEvent]) -> list[int]:
            self.calls += 1
            if not self.up:
                raise OSError("connection refused")
            self.saved += events
            return list(range(len(self.saved) - len(events), len(self.saved)))

    store = FlakyStore()
    snap = {"BTCUSDT/ETHUSDT": {"zscore": 3.0}}
    rule = AlertRule("z", "zscore", params={"k": 2.0}, cooldown_s=0)

    async def go() -> AlertLoop:
        loop = AlertLoop(
            AlertEngine([rule], per_rule_rate=None, global_rate=None), lambda: snap, store=store
        )
        for z in (3.0, 0.0, 3.0, 0.0, 3.0):
            snap["BTCUSDT/ETHUSDT"]["zscore"] = z
            await loop.run_cycle()
        assert store.calls == 1 and len(loop.retry) == 3  # one try, then held
        store.up = True
        loop._db_next_try = 0.0  # the retry interval has passed
        snap["BTCUSDT/ETHUSDT"]["zscore"] = 0.0
        await loop.run_cycle()
        snap["BTCUSDT/ETHUSDT"]["zscore"] = 3.0
        fired = await loop.run_cycle()
        assert fired[0][0] == 3  # backlog went first
        return loop

    loop = asyncio.run(go())
    assert len(store.saved) == 4 and not loop.retry
