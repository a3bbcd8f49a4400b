"""Alerts page: the alert feed (newest first, by severity) and the rule editor."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from components.formatting import download
from frame import Frame
from views.controls import REFRESH_S

from quant_platform.queries import alerts as alert_q

SEVERITY_STYLE = {
    "critical": "background-color: #f8d7da; color: #842029; font-weight: 600",
    "warning": "background-color: #fff3cd; color: #664d03",
    "info": "background-color: #cfe2ff; color: #084298",
}


@st.fragment(run_every=REFRESH_S)
def alert_feed(frame: Frame) -> None:
    """Recent alert events, newest first, coloured by severity."""
    with frame.guard("Alert feed"), frame.db() as conn:
        events = alert_q.recent_alert_events(conn, limit=200)
        if events.empty:
            st.info(
                "No alerts yet. Fired alerts from the daemon and Dagster sensors appear here.",
                icon=":material/notifications_off:",
            )
            return
        counts = events["severity"].value_counts()
        colour = {"critical": "red", "warning": "orange", "info": "blue"}
        st.markdown(
            " ".join(
                f":{colour[s]}-badge[{s}: {counts.get(s, 0)}]" for s in alert_q.SEVERITIES[::-1]
            )
            + f" · newest {len(events)} events"
        )
        shown = events.drop(columns=["metrics", "id"])
        styled = shown.style.map(lambda s: SEVERITY_STYLE.get(s, ""), subset=["severity"])
        st.dataframe(
            styled,
            hide_index=True,
            width="stretch",
            column_config={
                "time": st.column_config.DatetimeColumn("time (UTC)", format="YYYY-MM-DD HH:mm:ss")
            },
        )
        download("Download alerts CSV", events, "alert_events.csv", "dl_alerts")


def _toggle_rule(frame: Frame, rule_id: int, key: str) -> None:
    with frame.guard("Rule editor"), frame.db() as conn:
        alert_q.set_rule_enabled(conn, rule_id, bool(st.session_state[key]))


def _delete_rule(frame: Frame, rule_id: int, name: str) -> None:
    with frame.guard("Rule editor"), frame.db() as conn:
        if alert_q.delete_rule(conn, rule_id):
            st.session_state["rule_flash"] = f"Deleted rule {name!r}."


@st.fragment
def rule_editor(frame: Frame) -> None:
    """List, add (with every validation error shown), enable/disable and delete alert rules."""
    symbols = list(frame.settings.symbols)
    pairs = [f"{y}/{x}" for y, x in frame.settings.pair_list]
    with frame.guard("Rule editor"):
        st.markdown("**Add a rule**")
        # Outside the form so choosing a kind redraws the form with only the fields it uses
        # (a threshold for the built-in kinds, an expression for custom rules).
        kind = st.selectbox("Kind", alert_q.RULE_KINDS, key="rule_kind")
        with st.form("add_rule", clear_on_submit=False):
            st.caption(
                "A rule fires once when its condition starts to hold, then re-arms only after "
                "the condition clears (hysteresis), never sooner than its cooldown. "
                "*Repeat every* makes it fire again while it stays active."
            )
            c = st.columns([2, 1.5, 1, 1])
            name = c[0].text_input("Name", key="rule_name", placeholder="btc-eth-z-high")
            target = c[1].selectbox("Target", ["*", *pairs, *symbols], key="rule_target")
            severity = c[2].selectbox("Severity", alert_q.SEVERITIES, index=1, key="rule_severity")
            cooldown = c[3].number_input(
                "Cooldown (s)", 0.0, 86400.0, 60.0, step=10.0, key="rule_cooldown"
            )
            c2 = st.columns([1, 1, 3] if kind != "custom" else [1, 4])
            repeat = c2[0].number_input(
                "Repeat every (s)",
                min_value=1.0,
                max_value=86400.0,
                value=None,
                step=60.0,
                placeholder="once",
                key="rule_repeat",
                help="A rule fires once when its condition starts to hold and re-arms only "
                "after the condition clears. Set this to fire again every N seconds while "
                "it stays active (never more often than the cooldown).",
            )
            threshold, expression = 0.0, ""
            if kind == "custom":
                expression = c2[1].text_input(
                    "Expression",
                    key="rule_expression",
                    placeholder="abs(zscore) > 2.5 and correlation > 0.7",
                    help="Metric names: " + ", ".join(sorted(alert_q.EXPRESSION_METRICS)),
                )
            else:
                param = alert_q.KIND_PARAM.get(kind)
                threshold = c2[1].number_input(
                    "Threshold",
                    value=2.0,
                    step=0.1,
                    format="%.4f",
                    key="rule_threshold",
                    help=f"{param[0]}: the {param[3]}" if param else None,
                )
            submitted = st.form_submit_button("Add rule", type="primary")
        if submitted:
            params = (
                {alert_q.KIND_PARAM[kind][0]: float(threshold)}
                if kind in alert_q.KIND_PARAM
                else {}
            )
            draft = alert_q.RuleDraft(
                name=name,
                kind=kind,
                target=target,
                params=params,
                expression=expression if kind == "custom" else None,
                severity=severity,
                cooldown_s=float(cooldown),
                repeat_s=None if repeat is None else float(repeat),
            )
            try:
                with frame.db() as conn:
                    alert_q.add_rule(conn, draft, symbols, pairs)
                st.success(f"Added rule {name.strip()!r}.")
            except alert_q.RuleValidationError as exc:
                st.error("Rule not added:\n" + "\n".join(f"- {e}" for e in exc.errors))
        flash = st.session_state.pop("rule_flash", None)
        if flash:
            st.success(flash)
        with frame.db() as conn:
            rules = alert_q.list_rules(conn)
        st.markdown(f"**Rules** ({len(rules)})")
        if rules.empty:
            st.info("No alert rules yet: add one above, or load them from YAML with the CLI.")
            return
        head = st.columns([2, 1.4, 1.4, 2.4, 0.9, 0.9, 0.8])
        for h, t in zip(
            head, ["name", "kind", "target", "condition", "severity", "enabled", ""], strict=True
        ):
            h.caption(t)
        for r in rules.itertuples(index=False):
            row = st.columns([2, 1.4, 1.4, 2.4, 0.9, 0.9, 0.8], vertical_alignment="center")
            row[0].write(r.name)
            row[1].write(r.kind)
            row[2].write(r.target)
            cond = r.expression or ", ".join(f"{k}={v}" for k, v in (r.params or {}).items()) or "—"
            if pd.notna(r.repeat_s):
                cond += f"  · repeat every {r.repeat_s:g} s"
            row[3].code(cond, language=None)
            row[4].write(r.severity)
            key = f"rule_enabled_{r.id}"
            row[5].toggle(
                "on",
                value=bool(r.enabled),
                key=key,
                on_change=_toggle_rule,
                args=(frame, int(r.id), key),
                label_visibility="collapsed",
            )
            row[6].button(
                ":material/delete:",
                key=f"rule_delete_{r.id}",
                help=f"Delete {r.name}",
                on_click=_delete_rule,
                args=(frame, int(r.id), str(r.name)),
            )
        download("Download rules CSV", rules, "alert_rules.csv", "dl_rules")


def render(frame: Frame) -> None:
    tab_feed, tab_rules = st.tabs(["Alerts", "Rule editor"])
    with tab_feed:
        alert_feed(frame)
    with tab_rules:
        rule_editor(frame)
