"""docker-compose.yml agrees with the settings class (no Docker engine runs here)."""

from __future__ import annotations

from pathlib import Path

import yaml

from quant_platform.config import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
EXPECTED = {
    "timescaledb",
    "redis",
    "ingestion",
    "simulator",
    "dagster-webserver",
    "dagster-daemon",
    "dashboard",
}


def _env(service: str) -> dict[str, str]:
    return {k: str(v) for k, v in COMPOSE["services"][service].get("environment", {}).items()}


def test_full_stack_services_present() -> None:
    assert EXPECTED <= set(COMPOSE["services"])
    assert COMPOSE["services"]["timescaledb"]["image"].startswith("timescale/timescaledb")
    assert "pg15" in COMPOSE["services"]["timescaledb"]["image"]
    assert COMPOSE["services"]["redis"]["image"] == "redis:7"
    for name in ("timescaledb", "redis", "ingestion", "dagster-webserver", "dashboard"):
        assert "healthcheck" in COMPOSE["services"][name], name
    assert {"pg-data", "redis-data", "qp-data"} <= set(COMPOSE["volumes"])


def test_every_qp_variable_is_a_setting_and_validates() -> None:
    fields = set(Settings.model_fields)
    for service in EXPECTED - {"timescaledb", "redis"}:
        env = _env(service)
        qp = {k: v for k, v in env.items() if k.startswith("QP_")}
        assert qp, service
        for key in qp:
            assert key.removeprefix("QP_").lower() in fields, f"{service}: {key} is not a setting"
        s = load_settings(**{k.removeprefix("QP_").lower(): v for k, v in qp.items()})
        assert s.feed == "simulator"


def test_ports_bind_loopback_and_match_settings() -> None:
    defaults = Settings.model_construct()  # the class defaults, whatever QP_* this shell has
    published = {}
    for name, svc in COMPOSE["services"].items():
        for port in svc.get("ports", []):
            host, host_port, _container = port.split(":")
            assert host == "127.0.0.1", f"{name} publishes {port} beyond loopback"
            published[name] = int(host_port)
    assert published["timescaledb"] == defaults.pg_port
    assert published["redis"] == defaults.redis_port
    assert published["dagster-webserver"] == defaults.dagster_port
    assert published["dashboard"] == defaults.dashboard_port
    assert published["ingestion"] == defaults.metrics_port
    assert published["simulator"] == defaults.sim_port


def test_dagster_uses_postgres_storage_in_compose() -> None:
    cmd = " ".join(COMPOSE["services"]["dagster-daemon"]["command"])
    assert "dagster_postgres.yaml" in cmd


def test_worker_service_scales() -> None:
    """`--scale worker=N` needs no fixed host port and no container name."""
    worker = COMPOSE["services"]["worker"]
    assert worker["command"] == ["qp", "worker"]
    assert "ports" not in worker and "container_name" not in worker
    assert "QP_REDIS_URL" in _env("worker")
