"""The architecture diagram follows its brief, tells the truth about the code, and the
committed files are what `make diagram` makes now.

The brief is ../shared/seed/000_9dc2e6a930b3ba30.txt ("Architecture Diagram Instructions
for draw.io"); BRIEF below lists its items and where the .drawio shows each. Paths and
edges are held against the code through scripts/architecture_model.toml, the one file to
update when modules move.
"""

from __future__ import annotations

import ast
import html
import importlib.util
import re
import struct
import sys
import xml.etree.ElementTree as ET
from functools import cache
from pathlib import Path

import psycopg
import pytest
import redis

ROOT = Path(__file__).resolve().parents[2]
DRAWIO = ROOT / "docs" / "architecture.drawio"
PNG = ROOT / "docs" / "architecture.png"


def _generator():
    spec = importlib.util.spec_from_file_location(
        "architecture_diagram", ROOT / "scripts" / "architecture_diagram.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


gen = _generator()
MODEL = gen.load_model()
COMPONENTS = {c["id"]: c for c in MODEL["component"]}
LEGEND = {e["category"]: e for e in MODEL["legend"]}


@cache
def cells() -> dict[str, ET.Element]:
    root = ET.parse(DRAWIO).getroot()
    return {c.get("id"): c for c in root.iter("mxCell")}


def style(cell_id: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in (cells()[cell_id].get("style") or "").split(";"):
        key, sep, value = part.partition("=")
        if sep:
            out[key] = value
    return out


def text(cell_id: str) -> str:
    """What a reader sees in a cell (and in the text cells inside it), HTML stripped."""
    parts = [cells()[cell_id].get("value", "")]
    parts += [c.get("value", "") for c in cells().values() if c.get("parent") == cell_id]
    raw = " ".join(parts).replace("<br>", "\n")
    return html.unescape(re.sub(r"<[^>]+>", "", raw))


def edge_between(src: str, dst: str) -> ET.Element:
    found = [
        c
        for c in cells().values()
        if c.get("edge") == "1" and c.get("source") == src and c.get("target") == dst
    ]
    assert found, f"no edge {src} -> {dst} in the .drawio"
    return found[0]


# --- committed files are what the generator makes -------------------------------------------


def test_drawio_is_what_the_generator_makes_now() -> None:
    expected = gen.drawio_xml(MODEL, gen.stack_versions())
    assert DRAWIO.read_text(encoding="utf-8") == expected, (
        "docs/architecture.drawio is stale: run `make diagram` and commit both files"
    )


def test_png_carries_the_drawio_as_drawio_does() -> None:
    png = PNG.read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    # draw.io's "include a copy of my diagram": a tEXt chunk keyword `mxfile`, URL-encoded,
    # before the image data.
    pos, kinds = 8, []
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kinds.append(png[pos + 4 : pos + 8])
        if kinds[-1] == b"tEXt":
            assert png[pos + 8 : pos + 8 + length].startswith(b"mxfile\x00%3Cmxfile")
        pos += 12 + length
    assert b"tEXt" in kinds and kinds.index(b"tEXt") < kinds.index(b"IDAT")
    embedded = gen.extract_mxfile(png)
    assert embedded == DRAWIO.read_text(encoding="utf-8"), (
        "the PNG embeds another diagram than docs/architecture.drawio: run `make diagram`"
    )
    a = [ET.tostring(c) for c in ET.fromstring(embedded).iter("mxCell")]
    b = [ET.tostring(c) for c in ET.parse(DRAWIO).getroot().iter("mxCell")]
    assert a == b


def test_embed_and_extract_round_trip_like_encode_uri_component() -> None:
    xml = "<mxfile><diagram name=\"ä &amp; b\">x = 1; y='2'</diagram></mxfile>"
    png = gen.embed_mxfile(PNG.read_bytes(), xml)
    assert gen.extract_mxfile(png) == xml
    # encodeURIComponent leaves A-Z a-z 0-9 - _ . ! ~ * ' ( ) alone, escapes the rest
    assert b"%3Cmxfile%3E%3Cdiagram%20name%3D%22%C3%A4%20%26amp%3B%20b%22%3Ex%20%3D%201%3B" in png


def test_png_is_mxgraphs_render_of_the_drawio(tmp_path: Path) -> None:
    """The render is clean (no label larger than its box, no edge through a box) and the
    committed PNG is that render: same size (pixels may differ between font builds)."""
    if not Path(gen.CHROMIUM).exists():
        pytest.fail(f"{gen.CHROMIUM} missing: run `bash scripts/setup.sh --test`")
    png, report = gen.render_png(DRAWIO.read_text(encoding="utf-8"))
    assert report["problems"] == []
    ihdr = struct.unpack(">II", png[16:24])
    assert struct.unpack(">II", PNG.read_bytes()[16:24]) == ihdr
    assert ihdr[0] >= 1000 and ihdr[1] >= 2000


def test_vendored_mxgraph_is_the_npm_release() -> None:
    import hashlib

    digest = hashlib.sha256(gen.MXCLIENT.read_bytes()).hexdigest()
    assert digest == "776997760826fa8352f3935ebe5a7be90337bc33972861530f160f47948ea43f"
    assert "Apache License" in (gen.MXCLIENT.parent / "LICENSE").read_text()


# --- true to the code -----------------------------------------------------------------------


def _module_paths() -> list[str]:
    paths = [m for c in MODEL["component"] for m in c["modules"]]
    paths += [ev.split(" :: ")[0] for e in MODEL["edge"] for ev in e["evidence"]]
    return sorted(set(paths))


def test_every_named_module_exists() -> None:
    missing = [p for p in _module_paths() if not (ROOT / p).exists()]
    assert missing == [], (
        f"scripts/architecture_model.toml names paths that do not exist: {missing}"
    )


def test_every_component_names_its_modules_on_the_page() -> None:
    for cid, comp in COMPONENTS.items():
        shown = text(cid)
        for module in comp["modules"]:
            assert gen.display_path(module) in shown, (cid, module)
    # and a component that names no module would be a box nobody can find in the code
    assert all(comp["modules"] for comp in COMPONENTS.values())


@cache
def _identifiers(path: str) -> tuple[frozenset[str], tuple[str, ...]]:
    """Names a Python file (or every .py under a folder) imports, assigns, calls or reads,
    the modules it imports from, and its string literals."""
    target = ROOT / path
    files = sorted(target.rglob("*.py")) if target.is_dir() else [target]
    names: set[str] = set()
    strings: list[str] = []
    for file in files:
        source = file.read_text(encoding="utf-8")
        if file.suffix != ".py":
            strings.append(source)
            continue
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                strings.append(node.value)
            else:
                names.update(_node_names(node))
    return frozenset(names), tuple(strings)


def _node_names(node: ast.AST) -> set[str]:
    """The identifiers one AST node introduces or reads."""
    if isinstance(node, ast.Name):
        return {node.id}
    if isinstance(node, ast.Attribute):
        return {node.attr}
    if isinstance(node, ast.alias):
        return {node.name.split(".")[-1], node.asname or ""}
    if isinstance(node, ast.ImportFrom) and node.module:
        return {node.module}
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return {node.name}
    if isinstance(node, ast.arg):
        return {node.arg}
    return set()


def test_every_drawn_edge_is_in_the_code() -> None:
    """Each data-flow edge carries the code that makes it true: an import/call/name in a
    module, or the SQL/URL it sends. An edge whose evidence disappears fails here."""
    wrong = []
    for edge in MODEL["edge"]:
        assert edge["evidence"], f"{edge['id']} has no evidence"
        for ev in edge["evidence"]:
            path, token = (s.strip() for s in ev.split(" :: ", 1))
            names, strings = _identifiers(path)
            if token not in names and not any(token in s for s in strings):
                wrong.append(f"{edge['id']}: {path} has no {token!r}")
    assert wrong == [], (
        "the code moved: update the edge's evidence (or the edge) in "
        "scripts/architecture_model.toml, then `make diagram`"
    )


def test_the_model_and_the_page_have_the_same_edges() -> None:
    drawn = {
        c.get("id"): (c.get("source"), c.get("target"))
        for c in cells().values()
        if c.get("edge") == "1" and c.get("source")
    }
    assert drawn == {e["id"]: (e["src"], e["dst"]) for e in MODEL["edge"]}


def test_known_errors_are_fixed() -> None:
    """The five corrections the issue lists, as the page shows them."""
    assert "feed/continuity.py" in text("ws") and "TradeIdTracker" in text("ws")
    # alert events: written by AlertStore, not the batch flusher
    edge_between("alertstore", "timescale")
    assert "alert_events" in edge_between("alertstore", "timescale").get("value", "")
    assert not [
        c for c in cells().values() if c.get("source") == "alerts" and c.get("target") == "flusher"
    ]
    # live bars: fed by the daemon, the tick buffer is read only for recent ticks
    assert "bars" in edge_between("ws", "analytics").get("value", "")
    assert "recent ticks" in text("tickbuffer")
    # the dashboard's database reads and live analytics' pair_statistics writes
    assert "ohlcv" in edge_between("timescale", "dashboard").get("value", "")
    assert "pair_statistics" in edge_between("analytics", "timescale").get("value", "")
    # "7 d" is the trade retention only
    assert re.search(r"trades 7 d", text("timescale")) and "365 d" in text("timescale")


def test_stack_labels_are_the_versions_the_services_run(database_url: str, redis_url: str) -> None:
    services = MODEL["services"]
    with psycopg.connect(database_url) as conn:
        major = conn.execute("SHOW server_version_num").fetchone()[0][:2]
        ts = conn.execute(
            "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'"
        ).fetchone()
    assert major == services["postgresql"]
    assert ts is not None and ts[0] == services["timescaledb"]
    client = redis.Redis.from_url(redis_url)
    try:
        version = client.info("server")["redis_version"]
    finally:
        client.close()
    assert ".".join(version.split(".")[:2]) == services["redis"]
    stack = " ".join(text(c) for c in cells() if c.startswith("stack"))
    assert f"TimescaleDB {services['timescaledb']} (PostgreSQL {services['postgresql']})" in stack
    assert f"Redis {services['redis']}" in stack
    for name, version in gen.stack_versions().items():
        assert version in stack, name


# --- one colour scheme: the legend's ---------------------------------------------------------


def test_every_fill_matches_the_legend_on_the_page() -> None:
    for category, entry in LEGEND.items():
        legend_cell = f"legend_{category}"
        assert style(legend_cell)["fillColor"] == entry["fill"]
    for cid, comp in COMPONENTS.items():
        st = style(cid)
        assert st["qpCategory"] == comp["category"]
        assert st["fillColor"] == LEGEND[comp["category"]]["fill"], cid
    allowed = {e["fill"] for e in LEGEND.values()} | {"none", "#ffffff"}
    fills = {
        c.get("id"): style(c.get("id")).get("fillColor")
        for c in cells().values()
        if c.get("vertex") == "1"
    }
    strays = {k: v for k, v in fills.items() if v is not None and v not in allowed}
    assert strays == {}, "fills that are not on the legend"
    assert MODEL["meta"]["scheme"] == "legend"


# --- the brief, item by item ---------------------------------------------------------------------
# (item, how the .drawio shows it). Checks: ("text", cell, s) the cell reads s; ("style",
# cell, "k=v") the cell's style has it; ("edge", "src>dst", kind[, label]); ("model", attr, v).

FLOW, READ, ASYNC, LOOP = "flow", "read", "async", "loop"
BRIEF: list[tuple[str, tuple]] = [
    ("L1 title Binance Futures API", ("text", "binance", "Binance Futures API")),
    (
        "L1 wss://fstream.binance.com/ws (the code: routed /public combined stream)",
        ("text", "binance", "wss://fstream.binance.com/public/stream?streams="),
    ),
    ("L1 Symbols: BTC, ETH, BNB, SOL", ("text", "binance", "Symbols: BTC, ETH, BNB, SOL")),
    ("L1 Stream: @trade (tick data)", ("text", "binance", "Stream: @trade (tick data)")),
    ("L1 colour light blue (external)", ("style", "binance", "qpCategory=external")),
    ("L1 icon cloud/network", ("text", "binance", "☁")),
    ("L1 data format", ("text", "binance", "JSON trades {symbol, price, size, timestamp}")),
    ("L2 title WebSocket Client Manager", ("text", "ws", "WebSocket Client Manager")),
    ("L2 module (src/ingestion/ → real paths)", ("text", "ws", "ingestion/daemon.py")),
    ("L2 Multi-symbol connections", ("text", "ws", "Multi-symbol connections")),
    ("L2 Auto-reconnection (exp backoff)", ("text", "ws", "Auto-reconnection (exp backoff")),
    ("L2 Data validation", ("text", "ws", "Data validation")),
    ("L2 Normalization", ("text", "ws", "Normalization")),
    ("L2 Latency: <10ms per message", ("text", "ws", "Latency: < 10 ms per message")),
    ("L2 colour green (ingestion)", ("style", "ws", "qpCategory=ingestion")),
    ("L2 icon data flow", ("text", "ws", "⇄")),
    ("L2 annotation Async/await pattern", ("text", "ws", "Async/await pattern")),
    ("L2 annotation Error handling", ("text", "ws", "Error handling")),
    ("L3 A TickBuffer", ("text", "tickbuffer", "TickBuffer")),
    ("L3 A (Python deque)", ("text", "tickbuffer", "Python deque")),
    ("L3 A Max: 1000 ticks", ("text", "tickbuffer", "Max: 1000 ticks")),
    ("L3 A Latency: <1ms", ("text", "tickbuffer", "Latency: < 1 ms")),
    ("L3 A colour yellow (cache)", ("style", "tickbuffer", "qpCategory=cache")),
    (
        "L3 A use: ultra-low latency analytics",
        ("text", "tickbuffer", "ultra-low latency analytics"),
    ),
    ("L3 B Redis Cache", ("text", "redis", "Redis Cache")),
    ("L3 B (redis:7)", ("text", "redis", "redis 7.0")),
    ("L3 B Tick buffers", ("text", "redis", "Tick buffers")),
    ("L3 B Analytics cache", ("text", "redis", "Analytics cache")),
    ("L3 B Alert state", ("text", "redis", "Alert state")),
    ("L3 B TTL: 60s", ("text", "redis", "TTL: 60 s")),
    ("L3 B Latency: <5ms", ("text", "redis", "Latency: < 5 ms")),
    ("L3 B colour (legend: yellow, cache)", ("style", "redis", "qpCategory=cache")),
    ("L3 B port (6379 → the project's 56379)", ("text", "redis", "127.0.0.1:56379")),
    ("L3 B data-store shape", ("style", "redis", "shape=cylinder")),
    ("L3 C TimescaleDB", ("text", "timescale", "TimescaleDB")),
    ("L3 C (Postgres 15)", ("text", "timescale", "Postgres 15")),
    ("L3 C Hypertables", ("text", "timescale", "Hypertables")),
    ("L3 C Compression", ("text", "timescale", "Compression")),
    ("L3 C OHLCV storage", ("text", "timescale", "OHLCV storage")),
    ("L3 C Retention: 7d (trades)", ("text", "timescale", "Retention: trades 7 d")),
    ("L3 C colour (legend: red, storage)", ("style", "timescale", "qpCategory=storage")),
    ("L3 C port (5432 → the project's 55432)", ("text", "timescale", ":55432")),
    ("L3 C data-store shape", ("style", "timescale", "shape=cylinder")),
    ("L4 Analytics Engine", ("text", "analytics", "Analytics Engine")),
    (
        "L4 (src/analytics/ → quant_platform/analytics/)",
        ("text", "analytics", "quant_platform/analytics/"),
    ),
    ("L4 Statistical Analytics", ("text", "analytics", "Statistical Analytics:")),
    ("L4 Hedge Ratio (OLS)", ("text", "analytics", "Hedge Ratio (OLS")),
    ("L4 Spread Calculation", ("text", "analytics", "Spread Calculation")),
    ("L4 Z-Score (rolling)", ("text", "analytics", "Z-Score (rolling)")),
    ("L4 ADF Test (cointegration)", ("text", "analytics", "ADF Test (cointegration")),
    ("L4 Correlation (Pearson)", ("text", "analytics", "Correlation (Pearson")),
    ("L4 Half-life (AR1)", ("text", "analytics", "Half-life (AR1)")),
    ("L4 Execution Analytics", ("text", "analytics", "Execution Analytics:")),
    ("L4 VWAP", ("text", "analytics", "VWAP")),
    ("L4 Trade Imbalance", ("text", "analytics", "Trade Imbalance")),
    ("L4 Volatility Regime", ("text", "analytics", "Volatility Regime")),
    ("L4 Trend Detection", ("text", "analytics", "Trend Detection")),
    ("L4 Update frequency: 5s", ("text", "analytics", "Update frequency: 5 s")),
    ("L4 colour orange (processing)", ("style", "analytics", "qpCategory=processing")),
    ("L4 icon calculator", ("text", "analytics", "∑")),
    ("L5 Alert Engine", ("text", "alerts", "Alert Engine")),
    ("L5 (src/alerts/ → quant_platform/alerts/)", ("text", "alerts", "quant_platform/alerts/")),
    ("L5 Rule Types", ("text", "alerts", "Rule Types:")),
    ("L5 Z-score threshold", ("text", "alerts", "Z-score threshold")),
    ("L5 Correlation break", ("text", "alerts", "Correlation break")),
    ("L5 Volatility spike", ("text", "alerts", "Volatility spike")),
    ("L5 Custom conditions", ("text", "alerts", "Custom conditions")),
    ("L5 Features", ("text", "alerts", "Features:")),
    ("L5 Cooldown (60s)", ("text", "alerts", "Cooldown (60 s)")),
    ("L5 Rate limiting", ("text", "alerts", "Rate limiting")),
    ("L5 Severity levels", ("text", "alerts", "Severity levels")),
    ("L5 Check interval: 500ms", ("text", "alerts", "Check interval: 500 ms")),
    ("L5 colour (legend: orange, processing)", ("style", "alerts", "qpCategory=processing")),
    ("L5 icon bell/alarm", ("text", "alerts", "⚠")),
    ("L6 Streamlit Dashboard", ("text", "dashboard", "Streamlit Dashboard")),
    ("L6 (src/app.py → dashboard/app.py)", ("text", "dashboard", "dashboard/app.py")),
    ("L6 Features", ("text", "dashboard", "Features:")),
    ("L6 Real-time charts (Plotly)", ("text", "dashboard", "Real-time charts (Plotly)")),
    ("L6 Interactive controls", ("text", "dashboard", "Interactive controls")),
    ("L6 Alert display", ("text", "dashboard", "Alert display")),
    ("L6 Data export (CSV)", ("text", "dashboard", "Data export (CSV)")),
    ("L6 Access :8501 (binds 127.0.0.1)", ("text", "dashboard", "http://127.0.0.1:8501")),
    ("L6 colour (legend: purple, UI)", ("style", "dashboard", "qpCategory=ui")),
    ("L6 icon dashboard/monitor", ("text", "dashboard", "▤")),
    ("arrow 1 Binance → WS 'Tick data' solid", ("edge", "binance>ws", FLOW, "Tick data")),
    ("arrow 2a WS → TickBuffer", ("edge", "ws>tickbuffer", FLOW)),
    ("arrow 2b WS → Redis (via RedisTickSink)", ("edge", "redis_sink>redis", FLOW)),
    ("arrow 2c WS → TimescaleDB (via Batch Flusher)", ("edge", "flusher>timescale", FLOW)),
    (
        "arrow 3a TickBuffer → Analytics dotted 'Read data'",
        ("edge", "tickbuffer>analytics", READ, "Read data"),
    ),
    (
        "arrow 3b Redis → processing (Dagster) dotted 'Read data'",
        ("edge", "redis>dagster", READ, "Read data"),
    ),
    (
        "arrow 3c TimescaleDB → processing dotted 'Read data'",
        ("edge", "timescale>resample", READ, "Read data"),
    ),
    (
        "arrow 4 Analytics → Alert 'Computed metrics'",
        ("edge", "analytics>alerts", FLOW, "Computed metrics"),
    ),
    ("arrow 5 Alert → Dashboard 'Alerts'", ("edge", "alerts>dashboard", FLOW, "Alerts")),
    (
        "arrow 6 Analytics → Dashboard 'Analytics'",
        ("edge", "analytics>dashboard", FLOW, "Analytics"),
    ),
    ("background Resampling Task (30s interval)", ("text", "resample", "30 s interval")),
    ("background Ticks → OHLCV", ("text", "resample", "Ticks → OHLCV")),
    ("background resampling loop arrow", ("edge", "resample>resample", LOOP)),
    ("background Batch Flusher (5s or 1000 ticks)", ("text", "flusher", "5 s or 1000 ticks")),
    ("background Memory → Database", ("text", "flusher", "Memory → Database")),
    ("background flusher loop arrow", ("edge", "flusher>flusher", LOOP)),
    ("latency WebSocket → Buffer < 10ms", ("text", "latency0", "< 10 ms")),
    ("latency In-Memory Buffer < 1ms read", ("text", "latency1", "< 1 ms read")),
    ("latency Redis < 5ms read/write", ("text", "latency2", "< 5 ms read/write")),
    ("latency TimescaleDB < 50ms query", ("text", "latency3", "< 50 ms query")),
    ("latency Analytics < 100ms", ("text", "latency4", "< 100 ms")),
    ("latency Alert check 500ms cycle", ("text", "latency5", "500 ms cycle")),
    ("latency Dashboard refresh 5s interval", ("text", "latency6", "5 s interval")),
    ("failure WebSocket: Exponential backoff", ("text", "failure0", "Exponential backoff")),
    ("failure WebSocket: Max 10 retries", ("text", "failure0", "Max 10 retries")),
    ("failure WebSocket: Reconnect automatically", ("text", "failure0", "Reconnect automatically")),
    ("failure Database: Batch buffer in memory", ("text", "failure1", "Batch buffer in memory")),
    ("failure Database: Graceful degradation", ("text", "failure1", "Graceful degradation")),
    ("failure Database: Log errors", ("text", "failure1", "Log errors")),
    ("failure Redis: Use in-memory buffer", ("text", "failure2", "Use in-memory buffer")),
    ("failure Redis: Skip caching layer", ("text", "failure2", "Skip caching layer")),
    ("failure Redis: Continue operation", ("text", "failure2", "Continue operation")),
    ("stack Python 3.9+ (→ 3.11+)", ("text", "stack0", "Python 3.11+")),
    ("stack asyncio", ("text", "stack1", "asyncio")),
    ("stack TimescaleDB (PostgreSQL 15)", ("text", "stack2", "(PostgreSQL 15)")),
    ("stack Redis 7", ("text", "stack3", "Redis 7")),
    ("stack Streamlit (venv version)", ("text", "stack4", "Streamlit ")),
    ("stack Plotly (venv version)", ("text", "stack5", "Plotly ")),
    ("stack statsmodels", ("text", "stack6", "statsmodels")),
    ("stack pandas/numpy", ("text", "stack7", "pandas")),
    ("legend Blue: External services", ("text", "legend_external", "Blue: external services")),
    ("legend Green: Ingestion/Input", ("text", "legend_ingestion", "Green: ingestion / input")),
    ("legend Yellow: High-speed cache", ("text", "legend_cache", "Yellow: high-speed cache")),
    ("legend Red: Persistent storage", ("text", "legend_storage", "Red: persistent storage")),
    ("legend Orange: Processing", ("text", "legend_processing", "Orange: processing")),
    ("legend Purple: Output/UI", ("text", "legend_ui", "Purple: output / UI")),
    ("note 1 container shapes for components", ("style", "ws", "container=1")),
    ("note 2 data-store shapes for databases", ("style", "redis", "shape=cylinder")),
    ("note 3 solid arrows for data flow", ("edge", "binance>ws", FLOW)),
    ("note 4 dotted arrows for reads", ("edge", "timescale>dashboard", READ)),
    ("note 5 curved arrows for async callbacks", ("edge", "backfill>ws", ASYNC)),
    ("note 6 related components grouped in rectangles", ("style", "dagster", "container=1")),
    ("note 6 layers grouped in rectangles", ("style", "band3", "container=1")),
    ("note 7 shadow effects", ("style", "analytics", "shadow=1")),
    ("note 8 PNG (for README) + .drawio source", ("png", "docs/architecture.png", "mxfile")),
    ("template grid 10px", ("model", "gridSize", "10")),
    ("template snap to grid (grid on)", ("model", "grid", "1")),
    ("template orthogonal connectors", ("style", "binance_ws", "edgeStyle=orthogonalEdgeStyle")),
]


def _edge_kind(cell_id: str) -> str:
    st = style(cell_id)
    if cells()[cell_id].get("source") == cells()[cell_id].get("target"):
        return LOOP
    if st.get("dashed") == "1":
        return READ
    if st.get("curved") == "1":
        return ASYNC
    return FLOW


@pytest.mark.parametrize(("item", "check"), BRIEF, ids=[b[0] for b in BRIEF])
def test_brief_item_is_on_the_page(item: str, check: tuple) -> None:
    kind, where, *rest = check
    if kind == "text":
        assert rest[0] in text(where), f"{item}: {where} does not read {rest[0]!r}"
    elif kind == "style":
        key, _, value = rest[0].partition("=")
        assert style(where).get(key) == value, f"{item}: {where} has no {rest[0]}"
    elif kind == "edge":
        src, dst = where.split(">")
        edge = edge_between(src, dst)
        assert _edge_kind(edge.get("id")) == rest[0], item
        if len(rest) > 1:
            assert rest[1] in edge.get("value", ""), item
    elif kind == "png":
        assert gen.extract_mxfile((ROOT / where).read_bytes()) == DRAWIO.read_text(encoding="utf-8")
        assert f"]({where})" in (ROOT / "README.md").read_text(), "the README shows the PNG"
    elif kind == "model":
        model = ET.parse(DRAWIO).getroot().find(".//mxGraphModel")
        assert model is not None and model.get(where) == rest[0], item
    else:  # pragma: no cover - a typo in the table
        raise AssertionError(f"unknown check {kind}")


def test_brief_table_covers_the_brief() -> None:
    assert len(BRIEF) >= 119
    assert len({b[0] for b in BRIEF}) == len(BRIEF)


def test_layers_run_top_to_bottom_and_the_stores_sit_side_by_side() -> None:
    def geo(cell_id: str) -> tuple[float, float]:
        g = cells()[cell_id].find("mxGeometry")
        assert g is not None
        return float(g.get("x", 0)), float(g.get("y", 0))

    order = ["binance", "ws", "tickbuffer", "analytics", "alerts", "dashboard"]
    ys = [geo(c)[1] for c in order]
    assert ys == sorted(ys) and len(set(ys)) == len(ys)
    stores = [geo(c) for c in ("tickbuffer", "redis", "timescale")]
    assert len({y for _, y in stores}) == 1 and [x for x, _ in stores] == sorted(
        x for x, _ in stores
    )
    for cell_id, (_, y) in ((c, geo(c)) for c in cells() if c.startswith("stack")):
        assert y > geo("dashboard")[1], f"{cell_id} is not at the bottom"


def test_shapes_shadows_and_connectors_follow_the_drawio_notes() -> None:
    """Components are containers (their parts plain boxes inside one), stores are
    data-store cylinders, every component casts a shadow, connectors are orthogonal."""
    for cid, comp in COMPONENTS.items():
        st = style(cid)
        assert st.get("shadow") == "1", cid
        if comp.get("shape") == "datastore":
            assert st.get("shape") == "cylinder", cid
        elif cells()[cid].get("parent") == "1":
            assert st.get("shape") == "swimlane" and st.get("container") == "1", cid
        else:
            assert style(cells()[cid].get("parent"))["container"] == "1", cid
    for edge in MODEL["edge"]:
        st = style(edge["id"])
        if edge["kind"] == LOOP:
            assert edge["src"] == edge["dst"] and st.get("curved") == "1"
        else:
            assert st.get("edgeStyle") == "orthogonalEdgeStyle", edge["id"]


def test_everything_sits_on_the_10px_grid() -> None:
    """Grid 10 px with snap: every box and every way point is on the grid, so the diagram
    keeps its alignment when someone edits it in draw.io."""
    off = []
    for cell in cells().values():
        geo = cell.find("mxGeometry")
        if geo is None:
            continue
        if cell.get("vertex") == "1":
            for attr in ("x", "y", "width", "height"):
                if float(geo.get(attr, 0)) % 10:
                    off.append(f"{cell.get('id')}.{attr}={geo.get(attr)}")
        for point in geo.iter("mxPoint"):
            if point.get("as") == "offset":
                continue
            for attr in ("x", "y"):
                if float(point.get(attr, 0)) % 10:
                    off.append(f"{cell.get('id')} point {attr}={point.get(attr)}")
    assert off == []


def test_every_dagster_asset_group_is_on_the_page() -> None:
    """A new asset group in the code shows up in the Dagster box, or this fails."""
    groups = set()
    for path in (ROOT / "quant_platform" / "orchestration").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.keyword) and node.arg == "group_name":
                assert isinstance(node.value, ast.Constant), f"{path}: group_name not a literal"
                groups.add(node.value.value)
    assert len(groups) >= 4
    shown = text("assets")
    assert sorted(g for g in groups if g not in shown) == [], (
        "name the new asset group in component 'assets' of scripts/architecture_model.toml, "
        "then `make diagram`"
    )


def test_every_dashboard_page_is_on_the_page() -> None:
    """A new page in the dashboard's navigation shows up in the dashboard box, or this fails."""
    titles = []
    app = ast.parse((ROOT / "dashboard" / "app.py").read_text(encoding="utf-8"))
    for node in ast.walk(app):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "Page":
            titles += [k.value.value for k in node.keywords if k.arg == "title"]
    assert len(titles) >= 3
    shown = text("dashboard")
    assert [t for t in titles if t not in shown] == [], (
        "list the new page in component 'dashboard' of scripts/architecture_model.toml, "
        "then `make diagram`"
    )
