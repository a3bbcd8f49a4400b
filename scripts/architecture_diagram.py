"""Regenerate docs/architecture.drawio and docs/architecture.png from one model.

The model below names the real modules, ports and intervals; a test checks every
module it names exists. The PNG is rendered by Graphviz (Debian's `graphviz`),
the .drawio is plain mxGraph XML that opens and edits in draw.io.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


@dataclass(frozen=True)
class Node:
    id: str
    title: str
    module: str  # path in the repo, or "" for something outside it
    note: str  # ports, intervals, latency budget
    layer: int
    fill: str = "#dae8fc"


@dataclass(frozen=True)
class Edge:
    src: str
    dst: str
    label: str
    read: bool = False  # dotted when a read, solid when a write


LAYERS = [
    "data source",
    "ingestion",
    "sinks",
    "analytics",
    "alerts",
    "dashboard",
    "Dagster (batch)",
]

NODES = [
    Node(
        "binance",
        "Binance USD-M WS",
        "",
        "wss://fstream.binance.com\n/public @trade · /market @aggTrade",
        0,
        "#f5f5f5",
    ),
    Node(
        "sim",
        "Exchange simulator",
        "quant_platform/simulator/server.py",
        "ws+REST 127.0.0.1:9443\nfaults, replay",
        0,
        "#f5f5f5",
    ),
    Node(
        "conn",
        "FeedConnection",
        "quant_platform/feed/connection.py",
        "backoff + full jitter\nper-stream liveness",
        1,
    ),
    Node(
        "decoder",
        "TradeDecoder",
        "quant_platform/feed/decoder.py",
        "msgspec, validate\n~µs/frame",
        1,
    ),
    Node(
        "continuity",
        "TradeIdTracker + REST backfill",
        "quant_platform/feed/backfill.py",
        "dups dropped, gaps filled",
        1,
    ),
    Node(
        "buffer",
        "TickBuffer",
        "quant_platform/storage/tick_buffer.py",
        "deque 1000/symbol\nread < 1 ms",
        2,
        "#d5e8d4",
    ),
    Node(
        "redis_sink",
        "RedisTickSink",
        "quant_platform/storage/redis_sink.py",
        "pipelined XADD\nRedis 127.0.0.1:56379",
        2,
        "#d5e8d4",
    ),
    Node(
        "flusher",
        "BatchFlusher + Spool",
        "quant_platform/storage/batch_flusher.py",
        "5 s or 1000 ticks, COPY\nTimescaleDB 127.0.0.1:55432",
        2,
        "#d5e8d4",
    ),
    Node(
        "live",
        "Live analytics",
        "quant_platform/ingestion/live_analytics.py",
        "every 5 s, all pairs\n< 100 ms/cycle",
        3,
        "#fff2cc",
    ),
    Node(
        "lib",
        "analytics library",
        "quant_platform/analytics/pairs.py",
        "OLS, ADF, EG, half-life\nVWAP, imbalance, regime",
        3,
        "#fff2cc",
    ),
    Node(
        "alerts",
        "AlertEngine",
        "quant_platform/alerts/engine.py",
        "every 500 ms\ncooldown, rate limit",
        4,
        "#f8cecc",
    ),
    Node(
        "alert_sinks",
        "Alert sinks",
        "quant_platform/alerts/sinks.py",
        "log, file, webhook, SMTP",
        4,
        "#f8cecc",
    ),
    Node(
        "dashboard",
        "Streamlit dashboard",
        "dashboard/app.py",
        "127.0.0.1:8501\nrefresh 5 s",
        5,
        "#e1d5e7",
    ),
    Node(
        "ohlcv",
        "ohlcv assets",
        "quant_platform/orchestration/ohlcv/assets.py",
        "hourly partitions\ntime_bucket, ≤ 30 s behind",
        6,
        "#ffe6cc",
    ),
    Node(
        "stats",
        "pair_statistics",
        "quant_platform/orchestration/pair_statistics/assets.py",
        "every 5 min",
        6,
        "#ffe6cc",
    ),
    Node(
        "retention",
        "retention job",
        "quant_platform/orchestration/retention/jobs.py",
        "drop_chunks 7 d, daily",
        6,
        "#ffe6cc",
    ),
    Node(
        "sensors",
        "alert sensors",
        "quant_platform/orchestration/alerting/sensors.py",
        "coint break, freshness,\nrun failure, dispatch",
        6,
        "#ffe6cc",
    ),
    Node(
        "webserver", "Dagster webserver + daemon", "workspace.yaml", "127.0.0.1:3000", 6, "#ffe6cc"
    ),
]

EDGES = [
    Edge("binance", "conn", "trades"),
    Edge("sim", "conn", "trades (offline default)"),
    Edge("conn", "decoder", "frames"),
    Edge("decoder", "continuity", "Trade"),
    Edge("continuity", "buffer", "append"),
    Edge("continuity", "redis_sink", "XADD"),
    Edge("continuity", "flusher", "batch"),
    Edge("buffer", "live", "bars", read=True),
    Edge("live", "lib", "compute", read=True),
    Edge("live", "redis_sink", "analytics cache TTL 60 s"),
    Edge("live", "alerts", "metric snapshot", read=True),
    Edge("alerts", "alert_sinks", "deliver"),
    Edge("alerts", "flusher", "alert_events"),
    Edge("redis_sink", "dashboard", "live", read=True),
    Edge("flusher", "ohlcv", "trades", read=True),
    Edge("ohlcv", "stats", "1m bars", read=True),
    Edge("stats", "sensors", "p-values", read=True),
    Edge("sensors", "alert_sinks", "dispatch runs"),
    Edge("ohlcv", "dashboard", "bars", read=True),
]

FAILURES = [
    "WS drop → backoff, reconnect,\nresubscribe, REST backfill",
    "DB down → memory (bounded) →\nspool on disk → drained in order",
    "Redis down → buffer serves,\ncache skipped, reconnect later",
    "Silent subscription → named per\nstream, resubscribe / aggTrade",
    "Bad frame → counted, dropped;\nSIGTERM → flush before exit",
]


def drawio_xml() -> str:
    cells = ['<mxCell id="0"/>', '<mxCell id="1" parent="0"/>']
    width, height, gap_x, gap_y = 200, 70, 30, 60
    per_layer: dict[int, int] = {}
    pos: dict[str, tuple[int, int]] = {}
    for i, name in enumerate(LAYERS):
        y = 20 + i * (height + gap_y)
        cells.append(
            f'<mxCell id="layer{i}" value="{escape(name)}" style="text;fontStyle=1;align=left;" '
            f'vertex="1" parent="1"><mxGeometry x="10" y="{y + 20}" width="120" height="30" '
            'as="geometry"/></mxCell>'
        )
    for n in NODES:
        k = per_layer.get(n.layer, 0)
        per_layer[n.layer] = k + 1
        x, y = 140 + k * (width + gap_x), 20 + n.layer * (height + gap_y)
        pos[n.id] = (x, y)
        label = f"<b>{escape(n.title)}</b><br>{escape(n.module)}<br><i>{escape(n.note)}</i>"
        label = label.replace("\n", "<br>")
        cells.append(
            f'<mxCell id="{n.id}" value="{escape(label, {chr(34): "&quot;"})}" '
            f'style="rounded=1;whiteSpace=wrap;html=1;fillColor={n.fill};fontSize=10;" vertex="1" '
            f'parent="1"><mxGeometry x="{x}" y="{y}" width="{width}" height="{height}" '
            'as="geometry"/></mxCell>'
        )
    for j, text in enumerate(FAILURES):
        cells.append(
            f'<mxCell id="fail{j}" value="{escape(text)}" style="shape=note;whiteSpace=wrap;'
            f'fillColor=#fad9d5;fontSize=9;" vertex="1" parent="1"><mxGeometry x="1300" '
            f'y="{20 + j * 95}" width="210" height="80" as="geometry"/></mxCell>'
        )
    for k, e in enumerate(EDGES):
        dash = "dashed=1;dashPattern=1 3;" if e.read else ""
        cells.append(
            f'<mxCell id="e{k}" value="{escape(e.label)}" style="endArrow=block;html=1;'
            f'fontSize=9;{dash}" edge="1" parent="1" source="{e.src}" target="{e.dst}">'
            '<mxGeometry relative="1" as="geometry"/></mxCell>'
        )
    body = "\n        ".join(cells)
    return f"""<mxfile host="quant-platform" type="device">
  <diagram id="architecture" name="quant-platform architecture">
    <mxGraphModel dx="1600" dy="1000" grid="1" gridSize="10" page="1" pageWidth="1600" pageHeight="1100">
      <root>
        {body}
      </root>
    </mxGraphModel>
  </diagram>
</mxfile>
"""


def dot_source() -> str:
    lines = [
        "digraph qp {",
        '  graph [rankdir=TB, fontname="Helvetica", nodesep=0.35, ranksep=0.55, '
        'label="quant-platform — solid: writes, dotted: reads", labelloc=t, fontsize=18];',
        '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10];',
        '  edge [fontname="Helvetica", fontsize=8];',
    ]
    for i, name in enumerate(LAYERS):
        lines.append(f'  subgraph cluster_{i} {{ label="{name}"; style=dashed; color=grey60;')
        for n in NODES:
            if n.layer == i:
                note = n.note.replace("\n", "\\n")
                lines.append(
                    f'    {n.id} [label="{n.title}\\n{n.module}\\n{note}", fillcolor="{n.fill}"];'
                )
        lines.append("  }")
    lines.append('  subgraph cluster_f { label="failure modes"; style=filled; color="#fdecea";')
    for j, text in enumerate(FAILURES):
        lines.append(f'    f{j} [shape=note, label="{text}", fillcolor="#fad9d5"];')
    lines.append("  }")
    layer_of = {n.id: n.layer for n in NODES}
    for e in EDGES:
        style = "dotted" if e.read else "solid"
        # Only edges that go down the main stack shape the layout; the rest just connect.
        down = layer_of[e.src] < layer_of[e.dst] and layer_of[e.dst] < len(LAYERS) - 1
        extra = "" if down else ", constraint=false"
        lines.append(f'  {e.src} -> {e.dst} [label="{e.label}", style={style}{extra}];')
    lines.append("  sim -> f0 [style=invis]; f0 -> f1 -> f2 -> f3 -> f4 [style=invis];")
    lines.append(
        "  sim -> webserver [style=invis]; webserver -> ohlcv -> stats -> sensors [style=invis];"
    )
    lines.append("  retention -> sensors [style=invis]; webserver -> retention [style=invis];")
    lines.append("  buffer -> live [style=invis]; live -> alerts -> dashboard [style=invis];")
    lines.append("}")
    return "\n".join(lines)


def main() -> int:
    DOCS.mkdir(exist_ok=True)
    (DOCS / "architecture.drawio").write_text(drawio_xml(), encoding="utf-8")
    dot = shutil.which("dot")
    if dot is None:
        print("Graphviz `dot` not found: apt-get install graphviz", file=sys.stderr)
        return 1
    subprocess.run(
        [dot, "-Tpng", "-Gdpi=110", "-o", str(DOCS / "architecture.png")],
        input=dot_source().encode(),
        check=True,
    )
    print(f"wrote {DOCS / 'architecture.drawio'} and {DOCS / 'architecture.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
