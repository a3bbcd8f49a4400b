"""Regenerate docs/architecture.drawio and docs/architecture.png (`make diagram`).

What the diagram says lives in scripts/architecture_model.toml (components, the modules
that implement them, data-flow edges with the code that makes them true); this script
only lays it out. The PNG is not drawn a second time by another tool: the .drawio is
rendered by mxGraph (draw.io's engine, vendored in vendor/mxgraph) in headless
Chromium, and the mxfile XML is embedded in a `tEXt` chunk with keyword `mxfile`,
URL-encoded, exactly as draw.io's "Include a copy of my diagram" PNG export does, so
the PNG opens for editing in draw.io. The render also measures what a reader would
see wrong (a label larger than its box, an edge drawn through a box) and refuses to
write a PNG that has any of it.

Raises (as exit status 1 with a message): a missing Chromium, a render problem.
"""

from __future__ import annotations

import argparse
import html
import importlib.metadata
import re
import struct
import sys
import tomllib
import urllib.parse
import zlib
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
MODEL = ROOT / "scripts" / "architecture_model.toml"
MXCLIENT = ROOT / "vendor" / "mxgraph" / "mxClient.min.js"
RENDER_JS = ROOT / "scripts" / "architecture_render.js"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

PAGE_W = 1200
NEWLINE = {"\n": "&#10;"}
FONT = "DejaVu Sans"
EDGE_BASE = (
    "edgeStyle=orthogonalEdgeStyle;orthogonalLoop=1;jettySize=auto;html=1;endArrow=block;"
    "endFill=1;strokeWidth=2;fontSize=12;fontColor=#222222;labelBackgroundColor=#ffffff;"
    f"fontFamily={FONT};rounded=0;"
)
EDGE_KIND = {
    "flow": "strokeColor=#333333;",
    "read": "strokeColor=#555555;dashed=1;dashPattern=2 3;",
    "async": "strokeColor=#7a3e9d;curved=1;",
    "loop": "strokeColor=#7a3e9d;curved=1;edgeStyle=none;",
}


def load_model(path: Path = MODEL) -> dict:
    """The diagram's content as data (see scripts/architecture_model.toml)."""
    return tomllib.loads(path.read_text(encoding="utf-8"))


def stack_versions() -> dict[str, str]:
    """major.minor of what the venv really runs, for the technology-stack labels."""

    def mm(dist: str) -> str:
        return ".".join(importlib.metadata.version(dist).split(".")[:2])

    return {
        name: mm(name)
        for name in ("dagster", "streamlit", "plotly", "statsmodels", "pandas", "numpy")
    } | {"websockets": mm("websockets"), "msgspec": mm("msgspec"), "psycopg": mm("psycopg")}


# --- layout ---------------------------------------------------------------------------------
# (x, y, w, h) of every component in page coordinates; children of a container are given
# in page coordinates too and converted to relative ones when written.


@dataclass(frozen=True)
class Box:
    x: int
    y: int
    w: int
    h: int


BANDS = [
    ("band1", "Layer 1 · Data source", Box(10, 60, 890, 220)),
    ("band2", "Layer 2 · Ingestion", Box(10, 300, 890, 620)),
    ("band3", "Layer 3 · Buffer & Cache", Box(10, 940, 890, 330)),
    ("band4", "Layer 4 · Processing", Box(10, 1310, 890, 580)),
    ("band5", "Layer 5 · Alerts", Box(10, 1910, 890, 340)),
    ("band6", "Layer 6 · Presentation", Box(10, 2270, 890, 270)),
]

BOXES = {
    "binance": Box(40, 100, 430, 160),
    "sim": Box(580, 100, 290, 160),
    "ws": Box(40, 340, 430, 270),
    "backfill": Box(580, 340, 290, 130),
    "health": Box(580, 520, 290, 130),
    "redis_sink": Box(340, 740, 220, 120),
    "flusher": Box(620, 720, 250, 190),
    "spool": Box(630, 850, 230, 50),
    "tickbuffer": Box(40, 1010, 250, 250),
    "redis": Box(330, 1010, 260, 250),
    "timescale": Box(620, 1010, 250, 250),
    "analytics": Box(40, 1360, 430, 340),
    "resample": Box(610, 1350, 180, 130),
    "dagster": Box(560, 1500, 310, 380),
    "assets": Box(570, 1570, 270, 80),
    "schedules": Box(570, 1660, 270, 110),
    "sensors": Box(570, 1780, 270, 90),
    "alerts": Box(40, 1950, 430, 260),
    "sinks": Box(580, 1950, 290, 100),
    "alertstore": Box(580, 2110, 290, 110),
    "dashboard": Box(40, 2310, 430, 210),
}
PARENT = {
    "spool": "flusher",
    **{k: "dagster" for k in ("assets", "schedules", "sensors")},
}

# Edge routes: where an edge leaves and enters its boxes ("t"/"b" with a page x, "l"/"r"
# with a page y), way points in page coordinates, where the label sits (-1..1 along the
# edge) and its offset; "vertical" turns the label for edges in the narrow corridors.
ROUTES: dict[str, dict] = {
    "binance_ws": {"from": ("b", 250), "to": ("t", 250)},
    "sim_ws": {
        "from": ("l", 200),
        "to": ("t", 440),
        "points": [(520, 200), (520, 320), (440, 320)],
        "label_at": -0.6,
    },
    "sim_backfill": {"from": ("b", 725), "to": ("t", 725)},
    "ws_backfill": {"from": ("r", 380), "to": ("l", 380), "points": [(520, 360)]},
    "backfill_ws": {"from": ("l", 440), "to": ("r", 440), "points": [(520, 460)]},
    "timescale_backfill": {
        "from": ("r", 1040),
        "to": ("r", 440),
        "points": [(880, 1040), (880, 440)],
        "label_at": 0.0,
        "vertical": True,
    },
    "ws_health": {"from": ("r", 585), "to": ("l", 585)},
    "ws_tickbuffer": {"from": ("b", 270), "to": ("t", 270)},
    "ws_redissink": {"from": ("b", 420), "to": ("t", 420), "label_at": 0.5},
    "redissink_redis": {"from": ("b", 450), "to": ("t", 450)},
    "ws_flusher": {
        "from": ("b", 460),
        "to": ("t", 660),
        "points": [(460, 700), (660, 700)],
        "label_at": 0.3,
    },
    "flusher_loop": {"points": [(780, 700), (840, 700)], "label_at": 0, "offset": (-60, -8)},
    "flusher_timescale": {"from": ("b", 700), "to": ("t", 700)},
    "tickbuffer_analytics": {"from": ("b", 250), "to": ("t", 250), "label_at": 0.45},
    "ws_analytics": {"from": ("b", 310), "to": ("t", 310), "label_at": -0.85, "offset": (60, 0)},
    "analytics_redis": {"from": ("t", 360), "to": ("b", 360), "vertical": True},
    "redis_analytics": {"from": ("b", 400), "to": ("t", 400), "vertical": True},
    "analytics_timescale": {
        "from": ("t", 450),
        "to": ("b", 660),
        "points": [(450, 1290), (660, 1290)],
        "label_at": -0.23,
    },
    "redis_dagster": {
        "from": ("r", 1180),
        "to": ("t", 600),
        "points": [(600, 1180)],
        "label_at": 0.6,
        "vertical": True,
    },
    "timescale_resample": {"from": ("b", 750), "to": ("t", 750), "vertical": True},
    "resample_timescale": {"from": ("t", 700), "to": ("b", 700), "vertical": True},
    "resample_loop": {"points": [(810, 1390), (810, 1460)], "label_at": 0, "vertical": True},
    "dagster_timescale": {"from": ("t", 840), "to": ("b", 840), "vertical": True},
    "analytics_alerts": {"from": ("b", 170), "to": ("t", 170)},
    "alerts_sinks": {"from": ("r", 1980), "to": ("l", 2000), "points": [(500, 1990)]},
    "alerts_alertstore": {"from": ("r", 2150), "to": ("l", 2150)},
    "alertstore_timescale": {
        "from": ("r", 2150),
        "to": ("r", 1200),
        "points": [(880, 2150), (880, 1200)],
        "label_at": 0.4,
        "vertical": True,
    },
    "alertstore_redis": {
        "from": ("t", 600),
        "to": ("b", 550),
        "points": [(600, 2080), (550, 2080)],
        "label_at": 0.45,
        "vertical": True,
    },
    "sensors_sinks": {"from": ("b", 725), "to": ("t", 725)},
    "alerts_dashboard": {"from": ("b", 250), "to": ("t", 250), "label_at": -0.6},
    "analytics_dashboard": {
        "from": ("l", 1530),
        "to": ("l", 2340),
        "points": [(30, 1530), (30, 2340)],
        "label_at": 0.05,
        "vertical": True,
    },
    "redis_dashboard": {
        "from": ("b", 340),
        "to": ("l", 2480),
        "points": [(340, 1280), (20, 1280), (20, 2480)],
        "label_at": -0.2,
        "vertical": True,
    },
    "timescale_dashboard": {
        "from": ("r", 1080),
        "to": ("r", 2450),
        "points": [(890, 1080), (890, 2450)],
        "label_at": 0.3,
        "vertical": True,
    },
}

LATENCY = [  # (text, x, y, w) near its component
    ("< 10 ms", 150, 800, 80),
    ("< 1 ms read", 60, 980, 100),
    ("< 5 ms read/write", 460, 980, 130),
    ("< 50 ms query", 740, 980, 120),
    ("< 100 ms", 330, 1720, 80),
    ("500 ms cycle", 330, 1920, 110),
    ("5 s interval", 330, 2280, 100),
]

FAILURES = [
    (
        "WebSocket Failure",
        [
            "Exponential backoff (jitter, cap 30 s)",
            "Max 10 retries (consecutive, then exit)",
            "Reconnect automatically, resubscribe",
            "REST backfill from the last trade id",
        ],
    ),
    (
        "Database Failure",
        [
            "Batch buffer in memory (bounded),",
            "then disk spool, drained in order",
            "Graceful degradation: feed goes on",
            "Log errors; bad rows dead-lettered",
        ],
    ),
    (
        "Redis Failure",
        [
            "Use in-memory buffer (TickBuffer)",
            "Skip caching layer (counted)",
            "Continue operation, reconnect later",
        ],
    ),
]


def _anchor(box: Box, side: str, at: int) -> tuple[float, float]:
    """Relative exit/entry point on `box` for a side and a page coordinate along it."""
    if side in "tb":
        return round((at - box.x) / box.w, 4), 0 if side == "t" else 1
    return 0 if side == "l" else 1, round((at - box.y) / box.h, 4)


def _cell(
    id_: str, value: str, style: str, box: Box, parent: str = "1", origin: tuple = (0, 0)
) -> str:
    x, y = box.x - origin[0], box.y - origin[1]
    return (
        f'<mxCell id="{id_}" value="{escape(value, {chr(34): "&quot;"})}" style="{style}" '
        f'vertex="1" parent="{parent}"><mxGeometry x="{x}" y="{y}" width="{box.w}" '
        f'height="{box.h}" as="geometry"/></mxCell>'
    )


def display_path(module: str) -> str:
    """How the page shows a module path: relative to quant_platform/ (the title says so)."""
    shown = module.removeprefix("quant_platform/")
    return shown + "/" if (ROOT / module).is_dir() else shown


def _body(lines: list[str], modules: list[str]) -> str:
    mods = " · ".join(display_path(m) for m in modules)
    out = [
        '<font face="DejaVu Sans Mono" color="#444444" style="font-size:11px">'
        f"{html.escape(mods)}</font>"
    ]
    for line in lines:
        text = html.escape(line)
        if line.endswith(":") or line.startswith(
            ("Latency", "Update", "Check", "Access", "Use:", "TTL", "Retention")
        ):
            text = f"<b>{text}</b>"
        out.append(text)
    return "<br>".join(out)


def _component_cells(cid: str, comp: dict, cat: dict) -> list[str]:
    """The cells of one component: a datastore cylinder, an inline part, or a container
    with its body text and tags."""
    out: list[str] = []
    box = BOXES[cid]
    parent = PARENT.get(cid)
    origin = (BOXES[parent].x, BOXES[parent].y) if parent else (0, 0)
    title = (comp.get("icon", "") + "  " + comp["title"]).strip()
    common = (
        f"fillColor={cat['fill']};strokeColor={cat['stroke']};shadow=1;html=1;"
        f"whiteSpace=wrap;fontFamily={FONT};qpBox=1;qpCategory={comp['category']};"
    )
    if comp.get("shape") == "datastore":
        label = f'<b style="font-size:15px">{html.escape(title)}</b><br>' + _body(
            comp["lines"], comp["modules"]
        )
        out.append(
            _cell(
                cid,
                label,
                "shape=cylinder;fontColor=#222222;boundedLbl=1;backgroundOutline=1;size=15;verticalAlign=top;"
                f"spacingTop=60;align=left;spacingLeft=10;fontSize=13;{common}",
                box,
                parent or "1",
                origin,
            )
        )
        return out
    if parent:  # a part inside a container: a plain box, title inline
        label = f"<b>{html.escape(title)}</b> " + _body(comp["lines"], comp["modules"])
        out.append(
            _cell(
                cid,
                label,
                "rounded=1;arcSize=8;verticalAlign=top;align=left;spacingLeft=6;spacingTop=2;"
                f"fontSize=12;fontColor=#222222;{common}",
                box,
                parent,
                origin,
            )
        )
        return out
    start = 30
    out.append(
        _cell(
            cid,
            html.escape(title),
            f"swimlane;shape=swimlane;fontColor=#222222;container=1;collapsible=0;rounded=1;arcSize=6;startSize={start};"
            f"swimlaneFillColor={cat['fill']};fontStyle=1;fontSize=15;{common}",
            box,
            parent or "1",
            origin,
        )
    )
    tags = comp.get("tags", [])
    kids = [BOXES[k].y for k, p in PARENT.items() if p == cid]
    bottom = min(kids) - box.y if kids else box.h - (40 if tags else 0)
    out.append(
        _cell(
            f"{cid}_body",
            _body(comp["lines"], comp["modules"]),
            "text;html=1;strokeColor=none;fillColor=none;fontColor=#222222;whiteSpace=wrap;"
            "align=left;verticalAlign=top;spacingLeft=8;spacingTop=2;fontSize=13;"
            f"fontFamily={FONT};",
            Box(0, start, box.w, bottom - start),
            cid,
        )
    )
    for k, tag in enumerate(tags):
        out.append(
            _cell(
                f"{cid}_tag{k}",
                html.escape(tag),
                "rounded=1;html=1;whiteSpace=wrap;fontSize=11;fontColor=#222222;fillColor=#ffffff;strokeColor="
                f"{cat['stroke']};fontStyle=2;fontFamily={FONT};",
                Box(10 + k * 170, box.h - 40, 160, 30),
                cid,
            )
        )
    return out


def _sidebar_cells(model: dict, note_style: str) -> list[str]:
    """The right-hand sidebar: failure modes, then the colour and edge legend."""
    out: list[str] = []
    # Sidebar: failure modes, then the legend.
    y = 60
    heights = [-(-(12 + 15 * (len(lines) + 1)) // 10) * 10 for _, lines in FAILURES]
    out.append(
        _cell(
            "failures",
            "Failure modes &amp; handling",
            "swimlane;shape=swimlane;html=1;whiteSpace=wrap;container=1;collapsible=0;rounded=1;arcSize=2;startSize=28;"
            "fillColor=none;strokeColor=#999999;dashed=1;fontSize=14;fontStyle=1;fontColor=#444444;"
            f"fontFamily={FONT};",
            Box(910, y, 280, 40 + sum(h + 20 for h in heights)),
        )
    )
    fy = 40
    for k, ((title, lines), h) in enumerate(zip(FAILURES, heights, strict=True)):
        body = f"<b>{html.escape(title)}:</b><br>" + "<br>".join(
            "→ " + html.escape(s) for s in lines
        )
        out.append(
            _cell(
                f"failure{k}",
                body,
                note_style.replace("fontSize=11", "fontSize=12")
                + "align=left;verticalAlign=top;spacingLeft=6;shadow=1;",
                Box(10, fy, 260, h),
                "failures",
            )
        )
        fy += h + 20
    ly = y + 40 + sum(h + 20 for h in heights) + 20
    out.append(
        _cell(
            "legend",
            "Colour legend",
            "swimlane;shape=swimlane;html=1;whiteSpace=wrap;container=1;collapsible=0;rounded=1;arcSize=2;startSize=28;"
            "fillColor=none;strokeColor=#999999;fontSize=14;fontStyle=1;fontColor=#444444;"
            f"fontFamily={FONT};",
            Box(910, ly, 280, 40 + 40 * len(model["legend"]) + 90),
        )
    )
    for k, entry in enumerate(model["legend"]):
        out.append(
            _cell(
                f"legend_{entry['category']}",
                html.escape(entry["label"]),
                f"rounded=1;html=1;whiteSpace=wrap;fontSize=11;align=left;fontColor=#222222;spacingLeft=6;"
                f"fillColor={entry['fill']};strokeColor={entry['stroke']};fontFamily={FONT};"
                f"qpLegend={entry['category']};",
                Box(10, 40 + 40 * k, 260, 30),
                "legend",
            )
        )
    ey = 40 + 40 * len(model["legend"])
    for k, (kind, text) in enumerate(
        [("flow", "data flow"), ("read", "read"), ("async", "async callback, loop")]
    ):
        yy = ey + 30 * k + 10
        out.append(
            _cell(
                f"legend_{kind}_lbl",
                text,
                f"text;html=1;strokeColor=none;fillColor=none;fontColor=#222222;fontSize=11;align=left;fontFamily={FONT};",
                Box(110, yy - 10, 150, 20),
                "legend",
            )
        )
        out.append(
            f'<mxCell id="legend_{kind}" value="" style="{EDGE_BASE + EDGE_KIND[kind]}" '
            'edge="1" parent="legend">'
            f'<mxGeometry relative="1" as="geometry"><mxPoint x="10" y="{yy}" as="sourcePoint"/>'
            f'<mxPoint x="100" y="{yy}" as="targetPoint"/></mxGeometry></mxCell>'
        )
    return out


def drawio_xml(model: dict, versions: dict[str, str]) -> str:
    """The mxfile XML for draw.io: one page, grid 10 px, snap on, orthogonal connectors."""
    legend = {entry["category"]: entry for entry in model["legend"]}
    comps = {c["id"]: c for c in model["component"]}
    cells = ['<mxCell id="0"/>', '<mxCell id="1" parent="0"/>']
    cells.append(
        _cell(
            "title",
            "<b>quant-platform architecture</b> · module paths in monospace are under "
            "quant_platform/ unless they start with dashboard/ · generated by "
            "scripts/architecture_diagram.py from scripts/architecture_model.toml",
            f"text;html=1;strokeColor=none;fillColor=none;fontColor=#222222;align=left;verticalAlign=middle;fontSize=14;fontFamily={FONT};whiteSpace=wrap;",
            Box(10, 10, 1180, 40),
        )
    )
    for id_, title, box in BANDS:
        cells.append(
            _cell(
                id_,
                title,
                "swimlane;shape=swimlane;html=1;whiteSpace=wrap;container=1;collapsible=0;rounded=1;arcSize=2;"
                "startSize=28;fillColor=none;swimlaneFillColor=none;strokeColor=#999999;dashed=1;"
                f"fontSize=14;fontStyle=1;align=left;spacingLeft=34;fontColor=#444444;fontFamily={FONT};",
                box,
            )
        )
    for cid, comp in comps.items():
        cells.extend(_component_cells(cid, comp, legend[comp["category"]]))
    note_style = (
        "rounded=1;html=1;whiteSpace=wrap;fontSize=11;fillColor=#f5f5f5;strokeColor=#666666;"
        f"fontColor=#333333;fontFamily={FONT};qpBox=1;qpCategory=note;"
    )
    for k, (text, x, y, w) in enumerate(LATENCY):
        cells.append(_cell(f"latency{k}", html.escape(text), note_style, Box(x, y, w, 20)))
    cells.extend(_sidebar_cells(model, note_style))
    # Technology stack labels at the bottom.
    stack = [
        "Python 3.11+",
        "asyncio",
        f"TimescaleDB {model['services']['timescaledb']} "
        f"(PostgreSQL {model['services']['postgresql']})",
        f"Redis {model['services']['redis']}",
        f"Streamlit {versions['streamlit']}",
        f"Plotly {versions['plotly']}",
        f"statsmodels {versions['statsmodels']}",
        f"pandas {versions['pandas']} / numpy {versions['numpy']}",
        f"Dagster {versions['dagster']}",
        f"websockets {versions['websockets']}",
        f"msgspec {versions['msgspec']}",
        f"psycopg {versions['psycopg']}",
    ]
    top = BANDS[-1][2].y + BANDS[-1][2].h + 20
    cells.append(
        _cell(
            "stack_title",
            "<b>Technology stack</b> (the versions the venv and the local services run)",
            "text;html=1;strokeColor=none;fillColor=none;fontColor=#222222;align=left;"
            f"fontSize=13;fontFamily={FONT};",
            Box(10, top, 600, 30),
        )
    )
    sx, sy = 10, top + 30
    for k, text in enumerate(stack):
        w = 30 + 8 * len(text)
        w = (w + 9) // 10 * 10
        if sx + w > 1190:
            sx, sy = 10, sy + 40
        cells.append(
            _cell(
                f"stack{k}",
                html.escape(text),
                f"rounded=1;html=1;whiteSpace=wrap;fontSize=12;fontColor=#222222;fillColor=#ffffff;strokeColor=#666666;fontFamily={FONT};",
                Box(sx, sy, w, 30),
            )
        )
        sx += w + 10
    # Edges.
    for edge in model["edge"]:
        route = ROUTES[edge["id"]]
        style = EDGE_BASE + EDGE_KIND[edge["kind"]]
        if route.get("vertical"):
            style += "horizontal=0;"
        if "from" in route:
            ex, ey = _anchor(BOXES[edge["src"]], *route["from"])
            nx, ny = _anchor(BOXES[edge["dst"]], *route["to"])
            style += (
                f"exitX={ex};exitY={ey};exitDx=0;exitDy=0;"
                f"entryX={nx};entryY={ny};entryDx=0;entryDy=0;"
            )
        pts = "".join(f'<mxPoint x="{x}" y="{y}"/>' for x, y in route.get("points", []))
        points = f'<Array as="points">{pts}</Array>' if pts else ""
        at = route.get("label_at")
        geo_x = f' x="{at}"' if at is not None else ""
        if "offset" in route:
            points += '<mxPoint x="{}" y="{}" as="offset"/>'.format(*route["offset"])
        cells.append(
            f'<mxCell id="{edge["id"]}" value="{escape(edge["label"], NEWLINE)}" '
            f'style="{style}" edge="1" '
            f'parent="1" source="{edge["src"]}" target="{edge["dst"]}">'
            f'<mxGeometry{geo_x} relative="1" as="geometry">{points}</mxGeometry></mxCell>'
        )
    body = "\n        ".join(cells)
    height = sy + 60
    model_attrs = (
        f'dx="1200" dy="{height}" grid="1" gridSize="10" guides="1" tooltips="1" connect="1" '
        'arrows="1" fold="1" page="1" pageScale="1" '
        f'pageWidth="{PAGE_W}" pageHeight="{height}" math="0" shadow="1"'
    )
    return f"""<mxfile host="quant-platform" agent="scripts/architecture_diagram.py" type="device">
  <diagram id="architecture" name="quant-platform architecture">
    <mxGraphModel {model_attrs}>
      <root>
        {body}
      </root>
    </mxGraphModel>
  </diagram>
</mxfile>
"""


# --- PNG ----------------------------------------------------------------------------------


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    if not png.startswith(b"\x89PNG\r\n\x1a\n"):
        raise ValueError("not a PNG")
    out, pos = [], 8
    while pos + 8 <= len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        out.append((png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    return out


def embed_mxfile(png: bytes, mxfile: str) -> bytes:
    """Put a tEXt `mxfile` chunk (URL-encoded XML) before the first IDAT, as draw.io does.

    Any diagram the PNG already carried is replaced.

    Raises:
        ValueError: `png` is not a PNG with image data.
    """
    value = urllib.parse.quote(mxfile, safe="-_.!~*'()")  # = JavaScript encodeURIComponent
    out = [b"\x89PNG\r\n\x1a\n"]
    placed = False
    for kind, data in _chunks(png):
        if kind in (b"tEXt", b"zTXt") and data.startswith(b"mxfile\x00"):
            continue
        if kind == b"IDAT" and not placed:
            out.append(_chunk(b"tEXt", b"mxfile\x00" + value.encode("ascii")))
            placed = True
        out.append(_chunk(kind, data))
    if not placed:
        raise ValueError("PNG has no IDAT chunk")
    return b"".join(out)


def extract_mxfile(png: bytes) -> str | None:
    """The mxfile XML draw.io would read back from a PNG (tEXt or zTXt `mxfile`), or None."""
    for kind, data in _chunks(png):
        if kind in (b"tEXt", b"zTXt"):
            key, _, rest = data.partition(b"\x00")
            if key == b"mxfile":
                raw = zlib.decompress(rest[1:]) if kind == b"zTXt" else rest
                return urllib.parse.unquote(raw.decode("latin-1"))
    return None


def render_png(mxfile: str) -> tuple[bytes, dict]:
    """Render the diagram with mxGraph in headless Chromium; PNG bytes and the render report."""
    from playwright.sync_api import sync_playwright

    model_xml = re.search(r"<mxGraphModel.*</mxGraphModel>", mxfile, re.S)
    if model_xml is None:
        raise ValueError("mxfile has no mxGraphModel")
    page_html = (
        "<!doctype html><html><head><meta charset='utf-8'><style>"
        f"html,body{{margin:0;background:#fff;font-family:'{FONT}'}}"
        "#graph{position:relative;overflow:hidden;width:1400px;height:3200px}</style>"
        "<script>var mxBasePath='.',mxLoadResources=false,mxLoadStylesheet=false,"
        "mxForceIncludes=false,mxResourceExtension='.txt';</script></head>"
        "<body><div id='graph'></div></body></html>"
    )
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 3200}, device_scale_factor=1)
            page.set_content(page_html)
            page.add_script_tag(path=str(MXCLIENT))
            page.add_script_tag(path=str(RENDER_JS))
            report = page.evaluate("xml => window.qpRender(xml)", model_xml.group(0))
            x, y, w, h = report["bounds"]
            pad = 10
            png = page.screenshot(
                clip={
                    "x": max(0, x - pad),
                    "y": max(0, y - pad),
                    "width": w + 2 * pad,
                    "height": h + 2 * pad,
                },
                animations="disabled",
            )
        finally:
            browser.close()
    return png, report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--drawio-only", action="store_true", help="write the .drawio, skip the PNG"
    )
    parser.add_argument("--out", type=Path, default=DOCS, help="output folder (default docs/)")
    args = parser.parse_args(argv)
    model = load_model()
    xml = drawio_xml(model, stack_versions())
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "architecture.drawio").write_text(xml, encoding="utf-8")
    if args.drawio_only:
        return 0
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} not found: run `bash scripts/setup.sh --test`", file=sys.stderr)
        return 1
    png, report = render_png(xml)
    if report["problems"]:
        print("diagram not written, the render shows:", file=sys.stderr)
        for p in report["problems"]:
            print("  " + p, file=sys.stderr)
        (args.out / "architecture.rejected.png").write_bytes(embed_mxfile(png, xml))
        return 1
    (args.out / "architecture.png").write_bytes(embed_mxfile(png, xml))
    print(f"wrote {args.out / 'architecture.drawio'} and {args.out / 'architecture.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
