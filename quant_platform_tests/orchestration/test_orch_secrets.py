"""Secrets never reach Dagster's run storage: the resources take the URLs as EnvVars."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from dagster import DagsterInstance, Definitions, serialize_value

from quant_platform.config.settings import get_settings
from quant_platform.definitions import build_definitions
from quant_platform.domain.alert import RuleKind, Severity
from quant_platform.orchestration.alerting.events import fired, record_run_config
from quant_platform.orchestration.alerting.jobs import alert_record_job
from quant_platform.orchestration.resources import RedisResource, TimescaleResource

PASSWORD = "pw-never-stored-7f3a"


def with_password(url: str) -> str:
    """The same URL with a password (the test server trusts local users, so it is ignored)."""
    parts = urlsplit(url)
    user = parts.username or "qp"
    netloc = f"{user}:{PASSWORD}@{parts.hostname}:{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def stored_text(instance: DagsterInstance, run_id: str) -> str:
    """Everything the instance keeps about a run that a UI user can read: config, tags, job."""
    run = instance.get_run_by_id(run_id)
    assert run is not None
    snapshot = instance.get_job_snapshot(run.job_snapshot_id)
    return serialize_value(run.run_config) + repr(run.tags) + serialize_value(snapshot)


def run_record_job(defs: Definitions, instance: DagsterInstance) -> str:
    event = fired(RuleKind.STALE_FEED, "BTCUSDT", Severity.INFO, "secrets test", {"age_s": 1.0})
    result = defs.resolve_job_def(alert_record_job.name).execute_in_process(
        run_config=record_run_config([event]), instance=instance
    )
    assert result.success
    return result.run_id


@pytest.fixture()
def env_with_password(monkeypatch: pytest.MonkeyPatch, settings) -> str:
    url = with_password(settings.database_url)
    monkeypatch.setenv("QP_DATABASE_URL", url)
    monkeypatch.setenv("QP_REDIS_URL", settings.redis_url)
    monkeypatch.setenv("QP_REDIS_PREFIX", settings.redis_prefix)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def test_run_storage_holds_no_database_password(
    env_with_password: str, db: psycopg.Connection
) -> None:
    with DagsterInstance.ephemeral() as instance:
        run_id = run_record_job(build_definitions(), instance)
        text = stored_text(instance, run_id)
    # The run really used the URL (the row is there), yet stored only the variable's name.
    assert db.execute("SELECT count(*) FROM alert_events").fetchone()[0] == 1
    assert PASSWORD not in text
    assert "QP_DATABASE_URL" in text


def test_the_check_sees_a_password_given_as_a_value(
    env_with_password: str, db: psycopg.Connection, settings
) -> None:
    """Control: the same job with the URL as a plain value does store the password."""
    defs = Definitions(
        jobs=[alert_record_job],
        resources={
            "timescale": TimescaleResource(database_url=env_with_password),
            "redis": RedisResource(redis_url=settings.redis_url, prefix=settings.redis_prefix),
        },
    )
    with DagsterInstance.ephemeral() as instance:
        text = stored_text(instance, run_record_job(defs, instance))
    assert PASSWORD in text
