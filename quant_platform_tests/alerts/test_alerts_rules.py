"""Rules and the engine on constructed metric series: firing, hysteresis, cooldown, rate limits."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from quant_platform.alerts.engine import AlertEngine
from quant_platform.alerts.ratelimit import TokenBucket
from quant_platform.alerts.rules import AlertRule, RuleError, load_rules_yaml

PAIR = "BTCUSDT/ETHUSDT"
SYM = "BTCUSDT"


class FakeClock:
    def __init__(self, t: float = 1_700_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def run_series(
    rule: AlertRule,
    target: str,
    key: str,
    values: list[float],
    cooldown: float = 0.0,
    step: float = 1.0,
) -> list[int]:
    """Indices of the series where the engine fired (no rate limits, 1 s apart)."""
    clock = FakeClock()
    eng = AlertEngine(
        [rule], default_cooldown_s=cooldown, per_rule_rate=None, global_rate=None, clock=clock
    )
    fired = []
    for i, v in enumerate(values):
        clock.t += step
        if eng.evaluate({target: {key: v}}):
            fired.append(i)
    return fired


def test_zscore_both_fires_exactly_when_abs_z_ge_k() -> None:
    rule = AlertRule("z", "zscore", params={"k": 2.0})
    # each crossing separated by a clear (|z| < 1.8)
    series = [0.0, 1.9, 2.0, 0.0, -2.5, 0.5, 1.99, -1.0, 3.0]
    assert run_series(rule, PAIR, "zscore", series) == [2, 4, 8]


def test_zscore_directions() -> None:
    above = AlertRule("za", "zscore", params={"k": 2.0, "direction": "above"})
    below = AlertRule("zb", "zscore", params={"k": 2.0, "direction": "below"})
    series = [-3.0, 0.0, 3.0, 0.0, -3.0]
    assert run_series(above, PAIR, "zscore", series) == [2]
    assert run_series(below, PAIR, "zscore", series) == [0, 4]


def test_correlation_floor_and_delta() -> None:
    floor = AlertRule("c", "correlation_break", params={"floor": 0.5})
    assert run_series(floor, PAIR, "correlation", [0.9, 0.51, 0.49, 0.9, 0.3]) == [2, 4]
    delta = AlertRule("d", "correlation_break", params={"delta": 0.3, "baseline": 0.9})
    assert run_series(delta, PAIR, "correlation", [0.9, 0.65, 0.6, 0.9, 0.5]) == [2, 4]
    # learned baseline: a slow drift is followed, a sudden drop fires
    learned = AlertRule("l", "correlation_break", params={"delta": 0.3, "baseline_alpha": 0.5})
    drift = [0.9 - 0.01 * i for i in range(40)]  # 0.9 -> 0.51 slowly
    assert run_series(learned, PAIR, "correlation", drift) == []
    assert run_series(learned, PAIR, "correlation", [0.9] * 10 + [0.5]) == [10]


def test_volatility_spike() -> None:
    rule = AlertRule("v", "volatility_spike", params={"k": 3.0})
    assert run_series(rule, SYM, "vol_ratio", [1.0, 2.9, 3.0, 1.0, 4.0]) == [2, 4]


def test_custom_rule() -> None:
    rule = AlertRule("c", "custom", expression="abs(z) > 2.5 and adf_p < 0.05")
    clock = FakeClock()
    eng = AlertEngine(
        [rule], default_cooldown_s=0, per_rule_rate=None, global_rate=None, clock=clock
    )
    snaps = [
        {"zscore": 3.0, "adf_pvalue": 0.2},  # no: adf
        {"zscore": 3.0, "adf_pvalue": 0.01},  # fires
        {"zscore": 3.0, "adf_pvalue": 0.01},  # still true: not re-armed
        {"zscore": 1.0, "adf_pvalue": 0.01},  # false: re-arms
        {"zscore": math.nan, "adf_pvalue": 0.01},  # unknown: no change
        {"zscore": -3.0, "adf_pvalue": 0.01},  # fires
    ]
    fired = []
    for i, m in enumerate(snaps):
        clock.t += 1
        evs = eng.evaluate({PAIR: m, SYM: {"price": 1.0}})
        fired += [i for _ in evs]
        if evs:
            ev = evs[0]
            assert ev.target == PAIR and ev.rule_name == "c" and ev.kind == "custom"
            assert ev.metrics["zscore"] in (3.0, -3.0) and ev.metrics["adf_pvalue"] == 0.01
            assert ev.time == clock.t and ev.source == "daemon"
    assert fired == [1, 5]


def test_wildcard_expands_to_targets_of_the_right_kind() -> None:
    z = AlertRule("z", "zscore", params={"k": 2})
    v = AlertRule("v", "volatility_spike", params={"k": 2})
    only = AlertRule("o", "zscore", target="BNBUSDT/SOLUSDT", params={"k": 2})
    eng = AlertEngine([z, v, only], per_rule_rate=None, global_rate=None)
    snap = {
        "BTCUSDT/ETHUSDT": {"zscore": 3.0},
        "BNBUSDT/SOLUSDT": {"zscore": -3.0},
        "BTCUSDT": {"vol_ratio": 5.0},
        "ETHUSDT": {"vol_ratio": 1.0},
    }
    got = sorted((e.rule_name, e.target) for e in eng.evaluate(snap, now=100.0))
    assert got == [
        ("o", "BNBUSDT/SOLUSDT"),
        ("v", "BTCUSDT"),
        ("z", "BNBUSDT/SOLUSDT"),
        ("z", "BTCUSDT/ETHUSDT"),
    ]


def test_hysteresis_stops_flapping_at_threshold() -> None:
    rule = AlertRule("z", "zscore", params={"k": 2.0})  # re-arms below 1.8
    hover = [2.01, 1.99, 2.02, 1.95, 2.05, 1.85, 2.0]
    assert run_series(rule, PAIR, "zscore", hover) == [0]
    assert run_series(rule, PAIR, "zscore", hover + [1.79, 2.0]) == [0, 8]
    wide = AlertRule("w", "zscore", params={"k": 2.0, "hysteresis": 0.5})  # re-arms below 1.0
    assert run_series(wide, PAIR, "zscore", [2.0, 1.1, 2.0, 0.9, 2.0]) == [0, 4]


def test_cooldown_per_rule_and_target_with_fake_clock() -> None:
    clock = FakeClock(1000.0)
    rule = AlertRule("z", "zscore", params={"k": 2.0}, cooldown_s=60)
    eng = AlertEngine(
        [rule], default_cooldown_s=5, per_rule_rate=None, global_rate=None, clock=clock
    )
    hi, lo = {"zscore": 3.0}, {"zscore": 0.0}
    other = "BNBUSDT/SOLUSDT"
    assert len(eng.evaluate({PAIR: hi})) == 1
    clock.t += 10
    eng.evaluate({PAIR: lo})  # cleared: armed again
    clock.t += 10
    assert eng.evaluate({PAIR: hi, other: hi})[0].target == other  # PAIR in cooldown
    clock.t += 39.9  # 59.9 s after the first
    assert eng.evaluate({PAIR: hi}) == []
    clock.t += 0.1  # 60 s: cooldown over, still armed, still true -> fires
    assert [e.target for e in eng.evaluate({PAIR: hi})] == [PAIR]
    # rule without its own cooldown uses the engine default
    eng2 = AlertEngine(
        [AlertRule("d", "zscore", params={"k": 2.0})],
        default_cooldown_s=5,
        per_rule_rate=None,
        global_rate=None,
        clock=clock,
    )
    assert eng2.evaluate({PAIR: hi})
    clock.t += 1
    eng2.evaluate({PAIR: lo})
    clock.t += 1
    assert eng2.evaluate({PAIR: hi}) == []
    clock.t += 3
    assert eng2.evaluate({PAIR: hi})


def test_token_bucket_suppresses_and_counts() -> None:
    clock = FakeClock(0.0)
    b = TokenBucket(rate_per_s=1.0, burst=3, clock=clock)
    assert [b.allow() for _ in range(5)] == [True, True, True, False, False]
    assert b.suppressed == 2
    clock.t += 1.5
    assert [b.allow() for _ in range(2)] == [True, False]
    assert b.suppressed == 3
    clock.t += 100
    assert b.tokens <= 3 and [b.allow() for _ in range(4)] == [True, True, True, False]


def test_engine_rate_limits_per_rule_and_global() -> None:
    clock = FakeClock(0.0)
    rules = [AlertRule(f"r{i}", "zscore", params={"k": 1.0}, cooldown_s=0) for i in range(3)]
    eng = AlertEngine(rules, per_rule_rate=(0.0, 2), global_rate=(0.0, 5), clock=clock)
    pairs = [f"AAA{i}USDT/BBB{i}USDT" for i in range(3)]
    n = 0
    for _ in range(3):  # three crossings on each of three pairs per rule
        clock.t += 1
        n += len(eng.evaluate({p: {"zscore": 5.0} for p in pairs}))
        clock.t += 1
        eng.evaluate({p: {"zscore": 0.0} for p in pairs})
    # 27 firings: per-rule burst 2 allows at most 6, global burst 5 caps it at 5
    assert n == 5
    sup = eng.suppressed
    assert sup.total() == 22 == eng.suppressed_total
    # r0, r1 spend their burst in the first crossing, then their own bucket stops them;
    # r2 gets one event before the global bucket is empty, so the rest count as global
    assert sup["r0"] == 7 and sup["r1"] == 7 and "r2" not in sup and sup["*"] == 8


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": "bad name!", "kind": "zscore"}, "name"),
        ({"name": "x", "kind": "nope"}, "kind"),
        ({"name": "x", "kind": "zscore", "severity": "loud"}, "severity"),
        ({"name": "x", "kind": "zscore", "params": {"k": -1}}, "params.k"),
        ({"name": "x", "kind": "zscore", "params": {"k": "2"}}, "params.k"),
        ({"name": "x", "kind": "zscore", "params": {"kk": 2}}, "params.kk"),
        ({"name": "x", "kind": "zscore", "params": {"direction": "up"}}, "params.direction"),
        ({"name": "x", "kind": "correlation_break"}, "params"),
        ({"name": "x", "kind": "zscore", "cooldown_s": -1}, "cooldown_s"),
        ({"name": "x", "kind": "zscore", "target": "btc/eth!"}, "target"),
        ({"name": "x", "kind": "zscore", "target": "BTCUSDT"}, "target"),
        ({"name": "x", "kind": "volatility_spike", "target": "BTCUSDT/ETHUSDT"}, "target"),
        ({"name": "x", "kind": "custom"}, "expression"),
        ({"name": "x", "kind": "custom", "expression": "open('f')"}, "expression"),
        ({"name": "x", "kind": "custom", "expression": "zscore > 1 and price > 1"}, "expression"),
        ({"name": "x", "kind": "zscore", "expression": "zscore > 1"}, "expression"),
    ],
)
def test_validation_names_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(RuleError) as info:
        AlertRule(**kwargs)
    assert info.value.field == field
    assert field in str(info.value)


def test_bad_expression_keeps_the_column() -> None:
    with pytest.raises(RuleError) as info:
        AlertRule("x", "custom", expression="zscore > 1 and z.real > 2")
    err = info.value.expression_error
    assert err is not None and err.column == len("zscore > 1 and z")


def test_fires_once_per_activation_and_rearms_only_after_clearing() -> None:
    """Without repeat_s a condition that stays true for a long time fires exactly once."""
    rule = AlertRule("z", "zscore", params={"k": 2.0}, cooldown_s=0)
    active = [3.0] * 600  # ten minutes above k, one check per second
    assert run_series(rule, PAIR, "zscore", active) == [0]
    assert run_series(rule, PAIR, "zscore", active + [0.5] + active) == [0, 601]


def test_repeat_s_fires_again_while_active_and_stops_when_cleared() -> None:
    rule = AlertRule("z", "zscore", params={"k": 2.0}, cooldown_s=0, repeat_s=30)
    series = [3.0] * 100 + [0.5] * 50 + [3.0] * 10
    # at 0, then every 30 s while active (30, 60, 90); cleared at 100; fires anew at 150
    assert run_series(rule, PAIR, "zscore", series) == [0, 30, 60, 90, 150]
    clock = FakeClock()
    eng = AlertEngine([rule], per_rule_rate=None, global_rate=None, clock=clock)
    first = eng.evaluate({PAIR: {"zscore": 3.0}})
    clock.t += 30
    (again,) = eng.evaluate({PAIR: {"zscore": 3.0}})
    assert "still active" not in first[0].message
    assert "still active" in again.message and "30 s" in again.message


def test_repeat_never_beats_the_cooldown() -> None:
    rule = AlertRule("z", "zscore", params={"k": 2.0}, cooldown_s=45, repeat_s=10)
    assert run_series(rule, PAIR, "zscore", [3.0] * 100) == [0, 45, 90]


@pytest.mark.parametrize("value", [0, -5, "soon", math.inf, True])
def test_repeat_s_must_be_positive_seconds(value: object) -> None:
    with pytest.raises(RuleError, match="repeat_s"):
        AlertRule("z", "zscore", params={"k": 2.0}, repeat_s=value)  # type: ignore[arg-type]


def test_load_rules_yaml(tmp_path: Path) -> None:
    p = tmp_path / "rules.yaml"
    p.write_text(
        "rules:\n"
        "  - {name: z, kind: zscore, params: {k: 2.5}, severity: critical}\n"
        "  - name: c\n    kind: custom\n    expression: 'abs(z) > 2 and half_life < 600'\n"
        "    cooldown_s: 30\n    repeat_s: 300\n"
        "  - {name: v, kind: volatility_spike, target: BTCUSDT, enabled: false}\n"
        "sinks:\n  - {type: log}\n"
    )
    rules = load_rules_yaml(p)
    assert [r.name for r in rules] == ["z", "c", "v"]
    assert rules[0].params == {"k": 2.5} and rules[0].severity == "critical"
    assert rules[1].cooldown_s == 30.0 and rules[1].compiled is not None
    assert rules[1].repeat_s == 300.0 and rules[0].repeat_s is None
    assert AlertRule.from_dict(rules[1].to_dict()) == rules[1]
    assert rules[2].enabled is False and rules[2].scope == "symbol"
    p.write_text("- {name: z, kind: zscore, params: {k: 0}}\n")
    with pytest.raises(RuleError, match="params.k"):
        load_rules_yaml(p)


def test_dashboard_param_names_are_accepted() -> None:
    # the dashboard editor stores {"threshold": ...} / {"ratio": ...}; params stay as written
    z = AlertRule("dash z", "zscore", params={"threshold": 2.0})
    assert z.params == {"threshold": 2.0} and z.effective["k"] == 2.0
    assert run_series(z, PAIR, "zscore", [1.0, 2.5, 0.0, -2.0]) == [1, 3]
    c = AlertRule("dash c", "correlation_break", params={"threshold": 0.5})
    assert run_series(c, PAIR, "correlation", [0.9, 0.4]) == [1]
    v = AlertRule("dash v", "volatility_spike", params={"ratio": 3})
    assert run_series(v, SYM, "vol_ratio", [1.0, 3.5]) == [1]
    with pytest.raises(RuleError) as info:
        AlertRule("x", "zscore", params={"threshold": 2.0, "k": 3.0})
    assert info.value.field == "params.threshold"
    with pytest.raises(RuleError) as info:
        AlertRule("x", "volatility_spike", params={"ratio": 0})
    assert info.value.field == "params.ratio"
    with pytest.raises(RuleError, match="name"):
        AlertRule(" padded", "zscore")


def test_custom_rule_clear_condition_is_its_hysteresis() -> None:
    rule = AlertRule("c", "custom", expression="abs(z) >= 2", params={"clear": "abs(z) < 1"})
    hover = [2.0, 1.9, 2.1, 1.5, 2.0, 0.5, 2.0]
    assert run_series(rule, PAIR, "zscore", hover) == [0, 6]
    plain = AlertRule("p", "custom", expression="abs(z) >= 2")
    assert run_series(plain, PAIR, "zscore", hover) == [0, 2, 4, 6]
    with pytest.raises(RuleError) as info:
        AlertRule("c", "custom", expression="abs(z) >= 2", params={"clear": "z.real < 1"})
    assert info.value.field == "params.clear"
    with pytest.raises(RuleError, match="pair metrics"):
        AlertRule("c", "custom", expression="abs(z) >= 2", params={"clear": "price < 1"})
