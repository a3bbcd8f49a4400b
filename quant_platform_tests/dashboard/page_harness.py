"""Render one dashboard page module on its own in AppTest, with the real frame and sidebar.

Pages take their inputs as arguments (views/*.render), so a test hands them the
same Frame and PairView the app's entry point builds, without the navigation.
"""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

DASHBOARD = Path(__file__).resolve().parents[2] / "dashboard"
APP = DASHBOARD / "app.py"
TIMEOUT = 60
_SCRIPT = """
import sys
sys.path.insert(0, {dash!r})
from frame import Frame
from views.controls import pair_controls
from views import {page} as page
from quant_platform.config import get_settings
frame = Frame(get_settings())
{call}
"""
WITH_VIEW = {"live_pairs", "history"}


def page_test(page: str) -> AppTest:
    call = (
        "page.render(frame, pair_controls(frame.settings))"
        if page in WITH_VIEW
        else "page.render(frame)"
    )
    return AppTest.from_string(
        _SCRIPT.format(dash=str(DASHBOARD), page=page, call=call), default_timeout=TIMEOUT
    )


def run(at: AppTest) -> AppTest:
    at.run(timeout=TIMEOUT)
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    parts += [i.value for i in at.info] + [w.value for w in at.warning]
    parts += [e.value for e in at.error] + [s.value for s in at.success]
    return "\n".join(str(p) for p in parts)
