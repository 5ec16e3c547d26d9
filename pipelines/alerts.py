"""Alerts: a failed task (and, when enabled, a passed run's summary) posted as JSON to the configured webhook.

Where it goes comes from ``pipelines.settings.alert_target_for_airflow_task`` (the connection ``briefs_alerts``,
else the Variable ``briefs_alert_webhook``, else ``BRIEFS_ALERT_WEBHOOK``), read without the storage settings:
storage may be what failed. A payload names the DAG, the run, the task, the try and the log URL; it never holds
a credential: the webhook's own credentials and tokens, and the S3 keys of the environment, are cut out of the
error text, as are the user info and query of any URL in it. A webhook that is down costs one warning in the log,
never a second failure.
"""

from __future__ import annotations

import json
import logging
import os
import re
import urllib.parse
import urllib.request

from pipelines.settings import AlertTarget, alert_target_for_airflow_task

log = logging.getLogger("insight_briefs.alerts")
TIMEOUT_S = 10
_USER_INFO = re.compile(
    r"([a-z][a-z0-9+.-]*://)[^/\s@]*@", re.IGNORECASE
)  # any scheme: redis://:pw@, postgresql://
_QUERY = re.compile(r"(https?://[^\s?#]*)\?[^\s#]*")


SECRET_VARIABLES = ("AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SESSION_TOKEN")
# Connections and service URLs in the environment (the local stacks set these) whose passwords an error may echo.
CONNECTION_VARIABLES = (
    "AIRFLOW_CONN_BRIEFS_S3",
    "AIRFLOW_CONN_BRIEFS_S3_GC",
    "AIRFLOW_CONN_BRIEFS_ALERTS",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
    "AIRFLOW__CELERY__BROKER_URL",
    "AIRFLOW__CELERY__RESULT_BACKEND",
)


def _password_of(value: str) -> str:
    """The password in a connection (JSON with ``password``, or a URL with user info); "" when none."""
    if value.startswith("{"):
        try:
            return str(json.loads(value).get("password") or "")
        except (ValueError, AttributeError):
            return ""
    match = re.match(r"[a-z][a-z0-9+.-]*://[^/\s@:]*:([^/\s@]*)@", value, re.IGNORECASE)
    return urllib.parse.unquote(match.group(1)) if match else ""


def scrub(text: str, secrets: list[str]) -> str:
    """`text` without the given secrets, the S3 keys of the environment, and URLs' user info and queries."""
    env = [os.environ.get(name, "") for name in SECRET_VARIABLES]
    env += [_password_of(os.environ.get(name, "")) for name in CONNECTION_VARIABLES]
    for secret in sorted({s for s in [*secrets, *env] if len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return _QUERY.sub(r"\1?***", _USER_INFO.sub(r"\1***@", text))


def failure_payload(context: dict, secrets: list[str] | None = None) -> dict:
    """What a failed task posts: who failed, which try, where the log is, and the error in one line."""
    ti = context.get("task_instance") or context.get("ti")
    dag_id = context["dag"].dag_id if context.get("dag") else getattr(ti, "dag_id", None)
    task_id, try_number = getattr(ti, "task_id", None), getattr(ti, "try_number", None)
    error = scrub(str(context.get("exception") or "unknown error").splitlines()[0][:500], secrets or [])
    try:
        log_url = ti.log_url if ti is not None else None
    except Exception:  # a log URL is a convenience; the alert goes without it
        log_url = None
    logical = context.get("logical_date")
    return {
        "event": "task_failed",
        "dag_id": dag_id,
        "run_id": context.get("run_id"),
        "task_id": task_id,
        "map_index": getattr(ti, "map_index", -1),
        "try_number": try_number,
        "max_tries": getattr(ti, "max_tries", None),
        "logical_date": logical.isoformat() if logical else None,
        "log_url": log_url,
        "error": error,
        "text": f"insight-briefs: {dag_id} / {task_id} failed (try {try_number}) for run "
        f"{context.get('run_id')}: {error}",
    }


def summary_payload(summary: dict, secrets: list[str] | None = None) -> dict:
    """What a passed run posts when success summaries are on."""
    body = json.loads(scrub(json.dumps(summary, default=str), secrets or []))
    changes = ", ".join(f"{body.get(k) or 0} {k}" for k in ("new", "changed", "removed"))
    text = (
        f"insight-briefs: {body.get('dag_id')} run {body.get('run_id')}: snapshot {body.get('snapshot')}, "
        f"{changes}; quality {body.get('quality')}"
    )
    return {"event": "run_summary", **body, "text": text}


def post(target: AlertTarget, payload: dict) -> bool:
    """POST `payload` as JSON; False (and one warning naming only the host) when the webhook cannot take it."""
    request = urllib.request.Request(
        target.url,
        data=json.dumps(payload, default=str).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "insight-briefs", **target.headers},
    )
    try:
        urllib.request.urlopen(request, timeout=TIMEOUT_S).close()
    except (OSError, ValueError) as exc:  # URLError, HTTPError, timeouts: an alert must not hide the failure
        reason = getattr(exc, "code", None) or type(exc).__name__
        log.warning("could not post the alert to the webhook at %s: %s", target.where, reason)
        return False
    return True


def on_failure(context: dict) -> None:
    """The DAGs' ``on_failure_callback``: log the failure, post it if a webhook is configured."""
    try:
        target = alert_target_for_airflow_task()
    except Exception as exc:  # a malformed alert setting must not mask the task's own failure
        log.warning("alert settings unusable (%s): the failure is only logged", type(exc).__name__)
        target = None
    payload = failure_payload(context, target.secrets() if target else [])
    log.error(payload["text"])
    if target is not None:
        post(target, payload)


def on_summary(summary: dict) -> bool:
    """Post a passed run's summary when success summaries are on; True when one was posted."""
    try:
        target = alert_target_for_airflow_task()
    except Exception as exc:
        log.warning("alert settings unusable (%s): no summary posted", type(exc).__name__)
        return False
    if target is None or not target.success:
        return False
    return post(target, summary_payload(summary, target.secrets()))
