"""Alerts, run summaries and metrics, end to end: ``dag.test()`` against the simulator and SeaweedFS, a real HTTP
receiver and a real UDP (StatsD) socket on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from test_dag import airflow_db, run, run_summaries, site_env  # noqa: F401 (fixtures)

from pipelines import alerts
from pipelines.archive import Archive
from pipelines.settings import AlertTarget


class Receiver:
    """A webhook on 127.0.0.1 that records every POST: path, headers, JSON body."""

    def __init__(self):
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append({"path": self.path, "headers": dict(self.headers), "raw": body.decode()})
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def bodies(self, event: str) -> list[dict]:
        return [json.loads(r["raw"]) for r in self.received if json.loads(r["raw"]).get("event") == event]


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.server.shutdown()
    server.server.server_close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_failed_task_posts_who_what_and_where_without_a_secret(
    airflow_db,  # noqa: F811
    site_env,  # noqa: F811
    storage_env,
    receiver,
    monkeypatch,
):
    """A real fault: the S3 secret is wrong, so the crawl's first read is refused; the alert goes through the
    connection briefs_alerts (basic auth and a query token), and the run still gets its summary."""
    real_key, real_secret = storage_env["AWS_ACCESS_KEY_ID"], storage_env["AWS_SECRET_ACCESS_KEY"]
    wrong = "wrong-" + real_secret[::-1]
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", wrong)
    connection = {
        "conn_type": "http",
        "host": "127.0.0.1",
        "port": receiver.port,
        "schema": "http",
        "login": "alerter",
        "password": "hunter2-webhook-pass",
        "extra": {"endpoint": "hooks/briefs?token=q-secret-token-123"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_BRIEFS_ALERTS", json.dumps(connection))
    dagrun = run(airflow_db, "insight_briefs_archive", 20)
    assert dagrun.state == "failed"
    crawl = next(ti for ti in dagrun.get_task_instances() if ti.task_id == "crawl")
    assert crawl.state == "failed"
    (alert,) = receiver.bodies("task_failed")
    assert (alert["dag_id"], alert["run_id"], alert["task_id"]) == (
        "insight_briefs_archive",
        dagrun.run_id,
        "crawl",
    )
    assert alert["try_number"] == crawl.try_number > 1, "the alert comes after the last retry"
    assert "/dags/insight_briefs_archive/runs/" in alert["log_url"] and "/tasks/crawl" in alert["log_url"]
    assert "refused the credentials" in alert["error"]
    (request,) = [r for r in receiver.received if '"task_failed"' in r["raw"]]
    assert request["path"] == "/hooks/briefs?token=q-secret-token-123"
    assert (
        request["headers"]["Authorization"]
        == "Basic " + base64.b64encode(b"alerter:hunter2-webhook-pass").decode()
    )
    for secret in (real_key, real_secret, wrong, "hunter2-webhook-pass", "q-secret-token-123", "alerter:"):
        assert secret not in request["raw"], "no credential in the payload"
    summary = [e.extra for e in run_summaries(storage_location(storage_env))]
    assert summary[-1]["run_id"] == dagrun.run_id
    assert summary[-1]["quality"] == "not checked (the commit failed)" and summary[-1]["snapshot"] is None


def storage_location(env: dict) -> str:
    return f"s3://{env['BRIEFS_S3_BUCKET']}/{env.get('BRIEFS_S3_PREFIX') or 'insightcrime'}"


def test_a_passed_run_posts_its_summary_and_counts_its_pages_to_statsd(
    airflow_db,  # noqa: F811
    site_env,  # noqa: F811
    storage_env,
    bucket,
    receiver,
    monkeypatch,
):
    """Success summaries on (env fallback: a URL with user info), StatsD on: the summary's real numbers reach the
    webhook, the Asset event and the metrics."""
    statsd = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    statsd.bind(("127.0.0.1", 0))
    statsd.settimeout(0.2)
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_ON", "True")
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_HOST", "127.0.0.1")
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_PORT", str(statsd.getsockname()[1]))
    monkeypatch.setenv(
        "BRIEFS_ALERT_WEBHOOK", f"http://bot:s3cr3t-pw@127.0.0.1:{receiver.port}/hook?token=tok-456"
    )
    monkeypatch.setenv("BRIEFS_ALERT_SUCCESS", "true")
    dagrun = run(airflow_db, "insight_briefs_archive", 20)
    assert dagrun.state == "success"
    (posted,) = receiver.bodies("run_summary")
    assert not receiver.bodies("task_failed")
    (event,) = [
        e.extra for e in run_summaries(storage_location(storage_env)) if e.extra["run_id"] == dagrun.run_id
    ]
    assert posted["run_id"] == dagrun.run_id and posted["quality"] == event["quality"] == "passed"
    assert posted["snapshot"] == event["snapshot"] == 1
    counts = Archive(bucket).manifest().counts
    assert posted["new"] == event["new"] == counts.new > 0
    assert event["fetched"] > 0 and event["bytes_written"] > 0 and event["not_modified"] == 0
    for secret in ("s3cr3t-pw", "tok-456", storage_env["AWS_SECRET_ACCESS_KEY"]):
        assert secret not in json.dumps(posted)
    packets = []
    try:
        while True:
            packets += statsd.recv(65536).decode().splitlines()
    except TimeoutError:
        pass
    finally:
        statsd.close()
    ours = {
        line.split(":")[0]: int(line.split(":")[1].split("|")[0])
        for line in packets
        if "insight_briefs." in line
    }
    assert ours["airflow.insight_briefs.fetched"] == event["fetched"]
    assert ours["airflow.insight_briefs.new"] == event["new"]
    assert ours["airflow.insight_briefs.bytes_written"] == event["bytes_written"]
    assert ours["airflow.insight_briefs.runs.passed"] == 1


def test_env_webhook_credentials_become_a_header_and_never_the_payload(receiver):
    target = AlertTarget.from_url(f"http://ops:pa55-word@127.0.0.1:{receiver.port}/in?token=abc-token-9")
    assert "pa55" not in target.url and "pa55" not in repr(target)
    error = "S3 refused https://user:pa55-word@s3.example.org/b?X-Amz-Signature=deadbeef (abc-token-9)"
    context = {"run_id": "r1", "exception": RuntimeError(error)}
    payload = alerts.failure_payload(context, target.secrets())
    assert alerts.post(target, payload) is True
    (request,) = receiver.received
    assert request["headers"]["Authorization"] == "Basic " + base64.b64encode(b"ops:pa55-word").decode()
    assert request["path"] == "/in?token=abc-token-9"
    for secret in ("pa55-word", "abc-token-9", "deadbeef"):
        assert secret not in request["raw"]


def test_a_webhook_that_is_down_costs_one_warning(caplog):
    target = AlertTarget.from_url(f"http://127.0.0.1:{closed_port()}/hook?token=zz-top-secret")
    with caplog.at_level(logging.WARNING, logger="insight_briefs.alerts"):
        assert alerts.post(target, {"event": "task_failed"}) is False
    (record,) = caplog.records
    assert "could not post" in record.getMessage() and "zz-top-secret" not in record.getMessage()


def test_connection_and_service_passwords_never_reach_an_alert(monkeypatch):
    """An error that echoes a connection or a broker/DB URL (as the stacks set them) loses their passwords."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_BRIEFS_S3",
        json.dumps({"conn_type": "aws", "login": "AKIDLOGIN", "password": "s3-pass-9zx"}),
    )
    monkeypatch.setenv("AIRFLOW__CELERY__BROKER_URL", "redis://:redis-pass-42@127.0.0.1:6380/0")
    monkeypatch.setenv(
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "postgresql+psycopg2://airflow:pg%2Fpass@127.0.0.1/a"
    )
    text = (
        "failed: s3-pass-9zx; broker redis://:redis-pass-42@127.0.0.1:6380/0; db pg/pass at "
        "postgresql+psycopg2://airflow:pg%2Fpass@127.0.0.1/a"
    )
    scrubbed = alerts.scrub(text, [])
    for secret in ("s3-pass-9zx", "redis-pass-42", "pg/pass", "pg%2Fpass"):
        assert secret not in scrubbed, scrubbed
    assert scrubbed.startswith("failed: ***; broker redis://***@127.0.0.1:6380/0")
