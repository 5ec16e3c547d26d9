"""The project's counters, emitted the way Airflow emits its own metrics (StatsD, Datadog or OpenTelemetry, as
the ``[metrics]`` section configures: ``AIRFLOW__METRICS__STATSD_ON`` and friends, see docs/operations.md).

Names are ``insight_briefs.<counter>`` behind Airflow's own prefix (``statsd_prefix``, default ``airflow``):
``airflow.insight_briefs.fetched`` and so on. With metrics off this does nothing.
"""

from __future__ import annotations

import logging

log = logging.getLogger("insight_briefs.metrics")
PREFIX = "insight_briefs"
COUNTERS = (
    "discovered",
    "fetched",
    "not_modified",
    "failed",
    "new",
    "changed",
    "removed",
    "aliased",
    "superseded",
    "bytes_written",
)


def counters(summary: dict) -> dict[str, int]:
    """What a run summary (``pipelines.summary.build``) adds to each counter; failures also by reason and one
    ``runs.<verdict>`` count."""
    values = {name: int(summary.get(name) or 0) for name in COUNTERS}
    for reason, count in (summary.get("failed_by_reason") or {}).items():
        values[f"failed_by_reason.{reason}"] = int(count)
    verdict = str(summary.get("quality") or "unknown").split(" ", 1)[0].rstrip(":")
    values[f"runs.{verdict}"] = 1
    return values


def emit(values: dict[str, int]) -> None:
    """Increment each counter through Airflow's Stats, set up again from the current ``[metrics]`` configuration
    as the task runner sets it up (``dag.test()`` runs tasks in process, where nobody does)."""
    try:
        from airflow.sdk.configuration import conf
        from airflow.sdk.observability import stats
        from airflow.sdk.observability.metrics import stats_utils

        stats.initialize(
            factory=stats_utils.get_stats_factory(),
            export_legacy_names=conf.getboolean("metrics", "legacy_names_on", fallback=False),
        )
        for name, value in values.items():
            if value:
                stats.incr(f"{PREFIX}.{name}", count=value)
    except Exception as exc:  # metrics must never fail a run
        log.warning("could not emit metrics: %s", exc)
