"""Static checks of the production files in infra/production (no Docker or Kubernetes here)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

PROD = Path(__file__).resolve().parent.parent / "infra" / "production"


AIRFLOW_SERVICES = {"airflow-init", "api-server", "scheduler", "dag-processor", "triggerer", "worker"}
# A value that looks like a literal secret (not a ${VAR} reference): key = 12+ characters of key material.
INLINE_SECRET = re.compile(
    r"(?i)(password|secret|key|token)[\"']?\s*[:=]\s*[\"']?(?!\$\{)[A-Za-z0-9/+_-]{12,}"
)


def test_compose_file_is_the_distributed_topology():
    compose = yaml.safe_load((PROD / "compose.yaml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "s3", *AIRFLOW_SERVICES} <= set(services)
    for name, service in services.items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
    assert {n for n, s in services.items() if s.get("ports")} == {"api-server", "s3"}
    assert compose["networks"]["backend"]["internal"] is True
    for name in ("postgres", "redis"):
        assert services[name]["networks"] == ["backend"], f"{name} only on the internal network"
    for name in AIRFLOW_SERVICES:
        assert "backend" in services[name]["networks"], f"{name} reaches the metadata DB and the broker"
    env = services["scheduler"]["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql")
    assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://:${REDIS_PASSWORD:?")
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql")
    assert services["worker"]["command"][:2] == ["celery", "worker"]
    assert services["worker"]["deploy"]["replicas"] == 2, "two Celery workers"
    assert services["triggerer"]["command"] == ["triggerer"]
    assert "--skip-serve-logs" in services["scheduler"]["command"]
    assert "${S3_SECRET_KEY:?" in env["AIRFLOW_CONN_BRIEFS_S3"], "secrets come from .env, never from the file"
    assert "$$REDIS_PASSWORD" in " ".join(services["redis"]["command"])
    assert not INLINE_SECRET.search((PROD / "compose.yaml").read_text())


def test_dockerfile_uses_airflow_3_3_and_the_lock_file():
    dockerfile = (PROD / "Dockerfile").read_text()
    assert re.search(r"^FROM apache/airflow:3\.3\.\d+", dockerfile, re.M)
    assert "--locked" in dockerfile


def test_helm_values_are_the_distributed_topology():
    values = yaml.safe_load((PROD / "helm-values.yaml").read_text())
    assert values["executor"] == "CeleryExecutor"
    assert values["workers"]["replicas"] == 2
    assert values["redis"]["enabled"] and values["redis"]["passwordSecretName"]
    assert values["triggerer"]["enabled"] and values["dagProcessor"]["enabled"]
    assert values["data"]["metadataSecretName"] and values["data"]["brokerUrlSecretName"]
    assert values["fernetKeySecretName"] and values["jwtSecretName"]
    assert values["config"]["core"]["load_examples"] == "False"
    assert {s["envName"] for s in values["secret"]} >= {"AIRFLOW_CONN_BRIEFS_S3"}
    assert values["apiServer"]["service"]["type"] == "ClusterIP"
    assert not INLINE_SECRET.search((PROD / "helm-values.yaml").read_text())


def test_the_secret_pattern_catches_an_inline_secret():
    assert INLINE_SECRET.search("POSTGRES_PASSWORD: hunter2hunter2hunter2")
    assert not INLINE_SECRET.search("POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:?set in .env}")


def test_bucket_policy():
    policy = json.loads((PROD / "bucket-policy.json").read_text())
    assert policy["Versioning"]["Status"] == "Enabled"
    assert policy["Encryption"]["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"]
    assert all(policy["PublicAccessBlock"].values())
    rules = {r["ID"]: r for r in policy["Lifecycle"]["Rules"]}
    assert rules["warc-to-cold-storage"]["Filter"]["Prefix"].endswith("/warc/")
    assert rules["warc-to-cold-storage"]["Transitions"]
    denies = [s for s in policy["Policy"]["Statement"] if s["Effect"] == "Deny"]
    assert any("aws:SecureTransport" in json.dumps(s) for s in denies)
    assert any(
        s["Resource"] == ["arn:aws:s3:::insight-briefs/insightcrime/snapshots/*"]
        and "s3:DeleteObject" in s["Action"]
        for s in denies
    ), "manifests can never be deleted"


def _deletable(policy: dict) -> set[str]:
    return {
        r
        for s in policy["Statement"]
        if any("Delete" in a for a in s["Action"])
        for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])
    }


@pytest.mark.parametrize("name", ["iam-policy.json", "iam-policy-gc.json"])
def test_iam_policies_are_least_privilege(name):
    policy = json.loads((PROD / name).read_text())
    actions = [
        a
        for s in policy["Statement"]
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    ]
    assert not any(a.endswith("*") for a in actions), "no wildcard actions"
    deletable = _deletable(policy)
    assert not any("snapshots" in r for r in deletable), "no role may delete a manifest"
    if name == "iam-policy.json":
        assert deletable == {
            "arn:aws:s3:::insight-briefs/insightcrime/probes/*",
            "arn:aws:s3:::insight-briefs/insightcrime/runs/*",
        }, "the pipeline deletes its probe and the staging of a verified run only"
    else:
        assert not any("PutObject" in a for a in actions), "gc never writes"
    for statement in policy["Statement"]:
        resources = (
            statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        )
        assert all(r != "*" for r in resources)
