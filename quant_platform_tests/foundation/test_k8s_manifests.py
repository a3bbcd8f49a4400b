"""The Kubernetes path (docs/k8s/): every file parses, the Dagster parts validate
against Dagster's own config schemas, every command exists, no secret is inlined.

No cluster here: the Helm values are rendered the way the official chart's
instance templates render them (`dagsterYaml.runLauncher.k8s`,
`dagsterYaml.postgresql.config`, `dagsterYaml.runCoordinator.queued`) and the
result is checked with dagster-k8s's and dagster's config validation, so a
misspelt or mistyped launcher field fails here rather than in the cluster.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from dagster import Definitions
from dagster._config import validate_config
from dagster._config.field_utils import convert_potential_field
from dagster._core.run_coordinator import QueuedRunCoordinator
from dagster._core.storage.config import pg_config
from dagster_k8s import K8sRunLauncher

from quant_platform.cli.main import build_parser

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "docs" / "k8s"
VALUES = K8S / "dagster-values.yaml"
SECRETISH = re.compile(r"URL|PASSWORD|SECRET|TOKEN|KEY|DSN", re.IGNORECASE)
CREDENTIALS_IN_URL = re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@", re.IGNORECASE)
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "Job"}


def documents(path: Path) -> list[Any]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def manifests() -> list[dict[str, Any]]:
    """Every Kubernetes object in docs/k8s (the Helm values file is not one)."""
    return [d for p in sorted(K8S.glob("*.yaml")) if p != VALUES for d in documents(p)]


def values() -> dict[str, Any]:
    (doc,) = documents(VALUES)
    return doc


def containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    pod = obj["spec"]["template"]["spec"]
    return list(pod.get("initContainers", [])) + list(pod["containers"])


def schema_errors(schema: Any, value: dict[str, Any]) -> list[str]:
    """Dagster's own validation of `value` against a ConfigurableClass schema."""
    result = validate_config(convert_potential_field(schema).config_type, value)
    return [e.message for e in result.errors or []]


def render_k8s_run_launcher(v: dict[str, Any], namespace: str = "qp") -> dict[str, Any]:
    """`runLauncher.config.k8sRunLauncher` as the chart writes it into dagster.yaml."""
    k = v["runLauncher"]["config"]["k8sRunLauncher"]
    out: dict[str, Any] = {
        "load_incluster_config": k["loadInclusterConfig"],
        "job_namespace": k.get("jobNamespace") or namespace,
        "image_pull_policy": k.get("imagePullPolicy"),
        "service_account_name": v["global"]["serviceAccountName"],
        "dagster_home": v["global"]["dagsterHome"],
        "instance_config_map": "dagster-instance",
        "postgres_password_secret": v["global"]["postgresqlSecretName"],
    }
    plain = {
        "kubeconfigFile": "kubeconfig_file",
        "envVars": "env_vars",
        "volumeMounts": "volume_mounts",
        "volumes": "volumes",
        "labels": "labels",
        "resources": "resources",
        "schedulerName": "scheduler_name",
        "securityContext": "security_context",
    }
    out |= {snake: k[camel] for camel, snake in plain.items() if k.get(camel)}
    for camel, snake in (("envConfigMaps", "env_config_maps"), ("envSecrets", "env_secrets")):
        if k.get(camel):
            out[snake] = [ref["name"] for ref in k[camel] if "name" in ref]
    if k.get("failPodOnRunFailure"):
        out["fail_pod_on_run_failure"] = True
    if v.get("imagePullSecrets"):
        out["image_pull_secrets"] = v["imagePullSecrets"]
    run_k8s = {
        "containerConfig": "container_config",
        "podSpecConfig": "pod_spec_config",
        "podTemplateSpecMetadata": "pod_template_spec_metadata",
        "jobSpecConfig": "job_spec_config",
        "jobMetadata": "job_metadata",
    }
    if k.get("runK8sConfig"):
        rk = k["runK8sConfig"]
        out["run_k8s_config"] = {s: rk[c] for c, s in run_k8s.items() if rk.get(c)}
    return out


def test_every_yaml_parses_into_named_objects() -> None:
    files = sorted(K8S.glob("*.yaml"))
    assert VALUES in files and len(files) >= 5
    objs = manifests()
    for obj in objs:
        assert obj["apiVersion"] and obj["kind"] and obj["metadata"]["name"], obj
        assert obj["metadata"].get("namespace") == "qp", obj["metadata"]
    kinds = {o["kind"] for o in objs}
    assert {"ConfigMap", "Service", "Deployment", "Job"} <= kinds
    assert isinstance(values()["runLauncher"], dict)


def test_run_launcher_values_validate_against_dagster_k8s_schema() -> None:
    v = values()
    assert v["runLauncher"]["type"] == "K8sRunLauncher"
    rendered = render_k8s_run_launcher(v)
    assert schema_errors(K8sRunLauncher.config_type(), rendered) == []
    # the check bites: a misspelt field is refused by the same schema
    assert schema_errors(K8sRunLauncher.config_type(), {**rendered, "job_namespce": "qp"})


def test_run_pods_and_workers_share_the_step_storage() -> None:
    """Celery steps pass outputs through DAGSTER_HOME/storage: one RWX claim, one path."""
    k = values()["runLauncher"]["config"]["k8sRunLauncher"]
    launcher = {
        (m["mountPath"], v["persistentVolumeClaim"]["claimName"])
        for m in k["volumeMounts"]
        for v in k["volumes"]
        if v["name"] == m["name"]
    }
    (worker,) = [o for o in manifests() if o["metadata"]["name"] == "qp-worker"]
    pod = worker["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    workers = {
        (m["mountPath"], v["persistentVolumeClaim"]["claimName"])
        for m in c["volumeMounts"]
        for v in pod["volumes"]
        if v["name"] == m["name"]
    }
    home = values()["global"]["dagsterHome"]
    assert launcher == workers == {(f"{home}/storage", "qp-dagster-storage")}
    env = {e["name"]: e for e in c["env"]}
    assert env["DAGSTER_HOME"]["value"] == home
    ref = env["DAGSTER_PG_PASSWORD"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": values()["global"]["postgresqlSecretName"], "key": "postgresql-password"}
    (claim,) = [o for o in manifests() if o["kind"] == "PersistentVolumeClaim"]
    assert claim["metadata"]["name"] == "qp-dagster-storage"
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    (config,) = [o for o in manifests() if o["kind"] == "ConfigMap"]
    assert config["data"]["QP_DAGSTER_EXECUTOR"] == "celery"


def test_instance_storage_and_queue_values_validate_against_dagster_schemas() -> None:
    v = values()
    pg = v["postgresql"]
    assert pg["enabled"] is False  # the external server, not a chart-managed one
    postgres_db = {
        "username": pg["postgresqlUsername"],
        "password": {"env": "DAGSTER_PG_PASSWORD"},
        "hostname": pg["postgresqlHost"],
        "db_name": pg["postgresqlDatabase"],
        "port": pg["service"]["port"],
        "params": pg["postgresqlParams"],
        "scheme": pg["postgresqlScheme"],
    }
    assert schema_errors(pg_config(), {"postgres_db": postgres_db}) == []
    assert pg["postgresqlScheme"] == "postgresql+psycopg2"  # see up_cmd.dagster_pg_url
    q = v["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    queued = {
        "max_concurrent_runs": q["maxConcurrentRuns"],
        "tag_concurrency_limits": q["tagConcurrencyLimits"],
        "dequeue_interval_seconds": q["dequeueIntervalSeconds"],
    }
    assert schema_errors(QueuedRunCoordinator.config_type(), queued) == []
    local = yaml.safe_load(
        (ROOT / "quant_platform/orchestration/dagster_postgres.yaml").read_text()
    )
    lanes = local["run_coordinator"]["config"]["tag_concurrency_limits"]
    assert q["tagConcurrencyLimits"] == lanes  # one set of lanes, local and on k8s


def test_every_command_exists_in_the_project() -> None:
    parser = build_parser()
    seen = set()
    for obj in manifests():
        if obj["kind"] not in WORKLOADS:
            continue
        for c in containers(obj):
            argv = list(c["command"]) + list(c.get("args", []))
            seen.add(argv[0])
            if argv[0] == "qp":
                args = parser.parse_args(argv[1:])  # SystemExit on an unknown command/flag
                assert callable(args.func), argv
            elif argv[0] == "streamlit":
                assert argv[1] == "run" and (ROOT / argv[2]).is_file(), argv
            else:
                pytest.fail(f"{obj['metadata']['name']}: unknown entrypoint {argv}")
    assert {"qp", "streamlit"} <= seen
    # /health is 503 through a database or feed outage the daemon rides out (spool,
    # reconnect); a liveness probe on it would restart the daemon mid-outage
    probes = [
        c["livenessProbe"]["httpGet"]["path"]
        for o in manifests()
        if o["kind"] in WORKLOADS
        for c in containers(o)
        if "livenessProbe" in c
    ]
    assert probes and "/health" not in probes
    for d in values()["dagster-user-deployments"]["deployments"]:
        grpc = dict(zip(d["dagsterApiGrpcArgs"][::2], d["dagsterApiGrpcArgs"][1::2], strict=True))
        module = importlib.import_module(grpc["--module-name"])
        assert isinstance(getattr(module, grpc["--attribute"]), Definitions)


def test_ingest_shards_cover_every_index_once() -> None:
    shards = [
        c["command"][c["command"].index("--shard") + 1]
        for o in manifests()
        if o["kind"] == "Deployment"
        for c in containers(o)
        if c["command"][:2] == ["qp", "ingest"]
    ]
    n = {s.split("/")[1] for s in shards}
    assert len(n) == 1, shards  # every shard agrees on N
    assert sorted(int(s.split("/")[0]) for s in shards) == list(range(int(n.pop())))
    db = next(
        c["command"][-1]
        for o in manifests()
        if o["kind"] == "Job"
        for c in containers(o)
        if c["command"][:3] == ["qp", "db", "ensure"]
    )
    assert db == values()["postgresql"]["postgresqlDatabase"]  # Dagster's database is created


def walk(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every (dotted path, value) pair of a parsed YAML tree."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from walk(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk(v, f"{path}[{i}]")
    else:
        yield path, node


def inlined_secrets(doc: Any) -> list[str]:
    """Places where a secret-looking value is written into the configuration itself."""
    found = []
    if isinstance(doc, dict) and doc.get("kind") == "Secret":
        found.append(f"Secret {doc['metadata']['name']} with its data in the file")
    if isinstance(doc, dict) and doc.get("kind") == "ConfigMap":
        found += [f"ConfigMap key {k}" for k in doc.get("data", {}) if SECRETISH.search(k)]
    for path, value in walk(doc):
        if isinstance(value, str) and CREDENTIALS_IN_URL.search(value):
            found.append(f"{path}: credentials in a URL")
        key = path.rsplit(".", 1)[-1]
        if "password" in key.lower() and value not in (None, "", False):
            found.append(f"{path}: a password value")
    for env in (v for p, v in walk_dicts(doc) if p.endswith(".env")):
        for e in env if isinstance(env, list) else []:
            if SECRETISH.search(e.get("name", "")) and "value" in e:
                found.append(f"env {e['name']} set to a value, not a secretKeyRef")
    return found


def walk_dicts(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every (dotted path, container) pair, for lists and dicts below the root."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield f"{path}.{k}", v
            yield from walk_dicts(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk_dicts(v, f"{path}[{i}]")


def test_no_secret_value_is_inlined() -> None:
    for path in sorted(K8S.glob("*.yaml")):
        for doc in documents(path):
            assert inlined_secrets(doc) == [], path.name
        assert not CREDENTIALS_IN_URL.search(path.read_text()), path.name  # comments too
    v = values()
    assert v["generatePostgresqlPasswordSecret"] is False
    # every Secret the files reference is one the setup comment says how to create
    created = set(
        re.findall(r"create secret generic (\S+)", (K8S / "platform-config.yaml").read_text())
    )
    referenced = {v["global"]["postgresqlSecretName"]}
    for p, node in walk_dicts([*manifests(), v]):
        if p.endswith((".envSecrets", ".secretRef", ".secretKeyRef")):
            refs = node if isinstance(node, list) else [node]
            referenced |= {r["name"] for r in refs}
    assert referenced == created == {"qp-platform-urls", "qp-dagster-postgresql"}
    # the check bites on what it is meant to catch
    bad = {
        "kind": "Deployment",
        "spec": {"containers": [{"env": [{"name": "QP_DATABASE_URL", "value": "x"}]}]},
        "x": "postgresql://qp:hunter2@db/qp",
    }
    assert len(inlined_secrets(bad)) == 2
