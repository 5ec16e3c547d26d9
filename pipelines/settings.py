"""One typed settings object for storage, site, politeness, the quality gate and alerts.

Where the settings come from, in order:

1. ``briefs --env-file PATH`` (``Settings.from_env(env_file=PATH)``): ``NAME=value`` lines. For every name the
   file sets, the file wins over the environment; the environment fills the other names.
2. The environment: ``BRIEFS_S3_BUCKET``, ``BRIEFS_S3_PREFIX``, ``BRIEFS_S3_ENDPOINT_URL`` (or
   ``AWS_ENDPOINT_URL_S3``), ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``; and
   ``BRIEFS_PROFILE`` (the site profile, ``spiders/sites/<name>.py``), ``BRIEFS_SITE`` (its base URL, default the
   profile's), ``BRIEFS_POLITE``, ``BRIEFS_OVERLAP_MINUTES``, ``BRIEFS_MAX_EMPTY_RATE``,
   ``BRIEFS_MAX_LEAK_RATE``, ``BRIEFS_MIN_BODY_RATIO``, ``BRIEFS_MIN_DISCOVERY_RATIO``, ``BRIEFS_ALERT_WEBHOOK``,
   ``BRIEFS_ALERT_SUCCESS`` (post each passed run's summary too), ``BRIEFS_GC_GRACE`` (``7d``, ``12h``, ``0``).
3. In an Airflow task (``Settings.for_airflow_task()``): storage from the connection ``briefs_s3`` when it exists
   (type aws; login/password = access key/secret; extra: ``bucket``, ``prefix``, ``endpoint_url``,
   ``region_name``), and each other setting from the Variable ``briefs_<name>`` before ``BRIEFS_<NAME>``. The
   alert webhook comes first from the connection ``briefs_alerts`` (type http, see ``AlertTarget``).
4. Defaults (the InSight Crime profile and its live site and prefix, polite crawling, a 60-minute overlap, the
   gate's usual thresholds, no webhook, no success summaries, a 7-day gc grace period).

Storage settings are taken as a whole from one source, never assembled from several: from the env file if it
sets any storage variable, else from the environment (or the Airflow connection). A bucket-only setup is AWS
(no endpoint); nothing fills its gaps. The local stack's ``.stack/s3.env`` (``$BRIEFS_STACK_DIR/s3.env``) is
read only when nothing at all is configured: no env file and no storage variable (``AWS_DEFAULT_REGION`` alone
does not count). ``Settings.local_stack`` then says so, and the CLI prints one line about it.

Values are validated: a malformed number, flag or URL raises ``SettingsError`` naming the variable; secrets
(keys, the webhook URL) never appear in a ``repr``, a ``str`` or an error message. This module imports only
the standard library, so DAG files and task bodies can use it at parse time.
"""

from __future__ import annotations

import base64
import dataclasses
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit, urlunsplit

from spiders.sites import DEFAULT_PROFILE, SiteProfile, UnknownProfile, load_profile

if TYPE_CHECKING:
    from pipelines.storage import StorageConfig

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_STACK_DIR = REPO_ROOT / ".stack"
CONNECTION_ID = "briefs_s3"
GC_CONNECTION_ID = "briefs_s3_gc"  # optional: gc's credentials (infra/production/iam-policy-gc.json)
ALERTS_CONNECTION_ID = "briefs_alerts"
DEFAULT_GC_GRACE = timedelta(days=7)
DEFAULT_REGION = "us-east-1"
# Any of these (non-empty) means storage is configured; AWS_DEFAULT_REGION alone is often machine-wide, not a choice.
STORAGE_VARIABLES = (
    "BRIEFS_S3_BUCKET",
    "BRIEFS_S3_PREFIX",
    "BRIEFS_S3_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
)
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


class SettingsError(ValueError):
    """A setting is missing its file or has a malformed value; the message names it, never a secret."""


def profile_from_env(env: Mapping[str, str] | None = None) -> SiteProfile:
    """The site profile named by ``BRIEFS_PROFILE`` (default insightcrime), for DAG files at parse time, where
    the full settings (storage, Variables) are not read."""
    name = ((os.environ if env is None else env).get("BRIEFS_PROFILE") or "").strip()
    try:
        return load_profile(name or DEFAULT_PROFILE)
    except UnknownProfile as exc:
        raise SettingsError(f"BRIEFS_PROFILE: {exc}") from None


def read_env_file(path: Path | None) -> dict[str, str]:
    """``NAME=value`` lines (``#`` comments, optional ``export`` and quotes), as ``infra.stack`` writes
    ``.stack/s3.env``; a missing file reads as empty (``Settings.from_env`` checks an explicit one first)."""
    if not path or not path.exists():
        return {}
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        if sep and name.strip():
            values[name.strip()] = value
    return values


def local_stack_file(env: Mapping[str, str] | None = None) -> Path:
    """``$BRIEFS_STACK_DIR/s3.env`` (default ``<repo>/.stack/s3.env``), written by ``python -m infra.stack up``."""
    env = os.environ if env is None else env
    return Path(env.get("BRIEFS_STACK_DIR") or DEFAULT_STACK_DIR) / "s3.env"


def sets_storage(values: Mapping[str, str]) -> bool:
    return any(values.get(name) for name in STORAGE_VARIABLES)


@dataclass(frozen=True)
class QualityThresholds:
    """The quality gate's limits: share of pages with an empty body or leaked boilerplate, and the mean body
    length against recent runs below which a layout change is suspected."""

    max_empty_rate: float = 0.2
    max_leak_rate: float = 0.05
    min_body_ratio: float = 0.5
    min_discovery_ratio: float = 0.25  # candidates per edition against the median of comparable runs


@dataclass(frozen=True)
class Settings:
    storage: StorageConfig
    site: str  # the base URL crawled: the profile's live site unless BRIEFS_SITE points elsewhere
    profile: str = DEFAULT_PROFILE
    polite: bool = True
    overlap_minutes: int = 60
    quality: QualityThresholds = field(default_factory=QualityThresholds)
    alert_webhook: str | None = field(default=None, repr=False)
    alert_success: bool = False  # also post the summary of every run that passed (failures are always posted)
    gc_grace: timedelta = DEFAULT_GC_GRACE  # what gc (and the maintenance DAG) keeps however unreferenced
    source: str = "environment"  # where the storage settings came from, for humans
    local_stack: bool = False  # the storage is the local stack's, because nothing was configured

    @property
    def site_profile(self) -> SiteProfile:
        """The profile's rules, served at ``site``."""
        return load_profile(self.profile, self.site)

    # ---- constructors -------------------------------------------------------------------------------------
    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, env_file: Path | None = None, *, local_stack: bool = True
    ) -> Settings:
        """Settings from `env_file` (it wins for the names it sets), then `env` (default ``os.environ``), then
        defaults. Storage comes whole from the file if it sets any storage variable, else from `env`; the local
        stack's file only when neither sets one, no `env_file` is given and `local_stack` is true."""
        ambient = dict(os.environ if env is None else env)
        explicit = _read_explicit(env_file) if env_file is not None else {}
        storage, source, fallback = _storage_from_env(ambient, explicit, env_file, local_stack)

        def lookup(name: str) -> tuple[str | None, str]:
            variable = f"BRIEFS_{name.upper()}"
            return explicit.get(variable) or ambient.get(variable) or None, variable

        return _build(storage, source, fallback, lookup)

    @classmethod
    def for_airflow_task(
        cls, env: Mapping[str, str] | None = None, connection_id: str = CONNECTION_ID
    ) -> Settings:
        """Inside an Airflow task: storage from the connection `connection_id` (else ``briefs_s3``) if it exists,
        else as `from_env`; each other setting from the Variable ``briefs_<name>``, else ``BRIEFS_<NAME>``, else
        its default. (gc asks for ``briefs_s3_gc``: the credentials allowed to delete.)"""
        ambient = dict(os.environ if env is None else env)
        connection = _airflow_connection(connection_id)
        if connection is None and connection_id != CONNECTION_ID:
            connection_id, connection = CONNECTION_ID, _airflow_connection()
        if connection is not None:
            storage = _storage_from_connection(connection, connection_id)
            source, fallback = f"Airflow connection {connection_id}", False
        else:
            storage, source, fallback = _storage_from_env(ambient, {}, None, True)
        return _build(storage, source, fallback, _airflow_lookup(ambient))


@dataclass(frozen=True)
class AlertTarget:
    """Where alerts go: a URL without credentials, plus the headers that carry them (basic auth from the URL's
    user info or the connection's login/password, and any extra headers). Nothing of it is ever logged or posted;
    ``where`` (scheme, host and port) is what log lines name."""

    url: str = field(repr=False)
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    success: bool = False  # post passed runs' summaries too

    @property
    def where(self) -> str:
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}"

    def secrets(self) -> list[str]:
        """What must never appear in a payload or a log line: the header values (credentials, tokens), the
        decoded basic-auth pair, the URL's query and path."""
        parts = urlsplit(self.url)
        found = [*self.headers.values(), parts.query, parts.path.strip("/")]
        for value in self.headers.values():
            if value.startswith("Basic "):
                found += base64.b64decode(value[6:]).decode(errors="replace").split(":", 1)
        found += [v for pair in parts.query.split("&") for v in pair.split("=", 1)[1:]]
        return sorted({s for s in found if len(s) >= 4}, key=len, reverse=True)

    @classmethod
    def from_url(
        cls, url: str, headers: Mapping[str, str] | None = None, success: bool = False
    ) -> AlertTarget:
        """User info in the URL becomes a basic-auth header (urllib would not send it)."""
        parts = urlsplit(url)
        headers = dict(headers or {})
        if parts.username is not None:
            headers["Authorization"] = _basic(unquote(parts.username), unquote(parts.password or ""))
            netloc = parts.netloc.rpartition("@")[2]
            url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
        return cls(url=url, headers=headers, success=success)


def alert_target_for_airflow_task(env: Mapping[str, str] | None = None) -> AlertTarget | None:
    """Only the alert settings, not the storage ones (which may be what failed): the connection
    ``briefs_alerts`` (type http: host, or a whole URL in host; schema, port; extra ``endpoint`` and
    ``headers``; login/password as basic auth), else the Variable ``briefs_alert_webhook``, else
    ``BRIEFS_ALERT_WEBHOOK``. ``briefs_alert_success`` / ``BRIEFS_ALERT_SUCCESS`` turn on success summaries."""
    lookup = _airflow_lookup(dict(os.environ if env is None else env))
    value, label = lookup("alert_success")
    success = _bool(value.strip(), label) if value and value.strip() else False
    connection = _airflow_connection(ALERTS_CONNECTION_ID)
    if connection is not None:
        return _alert_from_connection(connection, success)
    url = _webhook(lookup)
    return AlertTarget.from_url(url, success=success) if url else None


def _alert_from_connection(connection, success: bool) -> AlertTarget:
    extra = connection.extra_dejson or {}
    host = (connection.host or "").strip()
    where = f"the Airflow connection {ALERTS_CONNECTION_ID}"
    if "://" in host:
        base = host
    else:
        port = f":{connection.port}" if connection.port else ""
        base = f"{connection.schema or 'https'}://{host}{port}"
    endpoint = str(extra.get("endpoint") or "").lstrip("/")
    url = _url(f"{base.rstrip('/')}/{endpoint}" if endpoint else base, f"host of {where}", secret=True)
    headers = {str(k): str(v) for k, v in (extra.get("headers") or {}).items()}
    target = AlertTarget.from_url(url, headers, success)
    if connection.login or connection.password:
        target.headers["Authorization"] = _basic(connection.login or "", connection.password or "")
    return target


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def parse_duration(text: str, label: str = "duration") -> timedelta:
    """``7d``, ``12h``, ``30m``, ``45s`` or ``0`` (tests and drills)."""
    match = re.fullmatch(r"([0-9]+)([dhms]?)", text.strip(), re.ASCII)
    if not match:
        raise SettingsError(f"{label} must be a duration such as 7d, 12h, 30m or 0, not {text[:40]!r}")
    unit = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds", "": "seconds"}[match.group(2)]
    return timedelta(**{unit: int(match.group(1))})


def _airflow_lookup(ambient: Mapping[str, str]) -> Callable[[str], tuple[str | None, str]]:
    from airflow.sdk import Variable

    def lookup(name: str) -> tuple[str | None, str]:
        value = Variable.get(f"briefs_{name}", default=None)
        if value not in (None, ""):
            return str(value), f"Variable briefs_{name}"
        variable = f"BRIEFS_{name.upper()}"
        return ambient.get(variable) or None, variable

    return lookup


# ---- storage ------------------------------------------------------------------------------------------------
def _read_explicit(path: Path) -> dict[str, str]:
    path = Path(path)
    if not path.is_file():
        raise SettingsError(f"env file {path} does not exist")
    return read_env_file(path)


def _storage_from_env(
    ambient: dict[str, str], explicit: dict[str, str], env_file: Path | None, local_stack: bool
) -> tuple[StorageConfig, str, bool]:
    if sets_storage(explicit):
        return storage_from_variables(explicit, f"env file {env_file}"), f"env file {env_file}", False
    if sets_storage(ambient) or env_file is not None:
        where = "the environment" if env_file is None else f"env file {env_file} or the environment"
        return storage_from_variables(ambient, where), "environment", False
    stack = local_stack_file(ambient)
    if local_stack and stack.is_file():
        return storage_from_variables(read_env_file(stack), str(stack)), f"local stack {stack}", True
    return storage_from_variables({}, "the environment"), "environment", False


def storage_from_variables(values: Mapping[str, str], where: str = "the environment") -> StorageConfig:
    """A StorageConfig from one source's variables alone (nothing is filled in from elsewhere)."""
    from pipelines.storage import StorageConfig, StorageError

    bucket = values.get("BRIEFS_S3_BUCKET")
    if not bucket:
        present = [name for name in STORAGE_VARIABLES if values.get(name)]
        note = f" ({', '.join(present)} set there, so the local stack is not used)" if present else ""
        raise StorageError(
            f"no bucket configured in {where}{note}: set BRIEFS_S3_BUCKET (and BRIEFS_S3_ENDPOINT_URL, "
            "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), pass --env-file, or start the local stack with "
            "`uv run python -m infra.stack up`"
        )
    endpoint_variable = (
        "BRIEFS_S3_ENDPOINT_URL" if values.get("BRIEFS_S3_ENDPOINT_URL") else "AWS_ENDPOINT_URL_S3"
    )
    return StorageConfig(
        bucket=bucket,
        prefix=(values.get("BRIEFS_S3_PREFIX") or "").strip("/"),  # "" = the profile's, filled in by _build
        endpoint_url=_url(values.get(endpoint_variable) or None, endpoint_variable, secret=True),
        region=values.get("AWS_DEFAULT_REGION") or DEFAULT_REGION,
        access_key=values.get("AWS_ACCESS_KEY_ID") or None,
        secret_key=values.get("AWS_SECRET_ACCESS_KEY") or None,
    )


def _airflow_connection(conn_id: str = CONNECTION_ID):
    """The connection `conn_id`, or None when it is not defined (any other failure propagates)."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException, AirflowRuntimeError, ErrorType

    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return None
    except AirflowRuntimeError as exc:  # Connection.get turns this one into AirflowNotFoundException already
        if exc.error.error == ErrorType.CONNECTION_NOT_FOUND:
            return None
        raise


def _storage_from_connection(connection, connection_id: str = CONNECTION_ID) -> StorageConfig:
    from pipelines.storage import StorageConfig, StorageError

    extra = connection.extra_dejson or {}
    where = f"the Airflow connection {connection_id}"
    if not extra.get("bucket"):
        raise StorageError(f'no bucket configured in {where}: add "bucket" to its extra')
    return StorageConfig(
        bucket=extra["bucket"],
        prefix=(extra.get("prefix") or "").strip("/"),
        endpoint_url=_url(extra.get("endpoint_url") or None, f"endpoint_url of {where}", secret=True),
        region=extra.get("region_name") or DEFAULT_REGION,
        access_key=connection.login or None,
        secret_key=connection.password or None,
    )


# ---- the other settings -------------------------------------------------------------------------------------
def _build(
    storage: StorageConfig, source: str, fallback: bool, lookup: Callable[[str], tuple[str | None, str]]
) -> Settings:
    def get(name: str, parse: Callable[[str, str], object], default: object) -> object:
        value, label = lookup(name)
        value = value.strip() if value else None
        return default if not value else parse(value, label)

    profile = get("profile", _profile, load_profile())
    if not storage.prefix:
        storage = dataclasses.replace(storage, prefix=profile.storage_prefix)
    return Settings(
        storage=storage,
        profile=profile.name,
        site=get("site", lambda v, label: _url(v, label).rstrip("/"), profile.base_url),
        polite=get("polite", _bool, True),
        overlap_minutes=get("overlap_minutes", _count, 60),
        quality=QualityThresholds(
            max_empty_rate=get("max_empty_rate", _rate, QualityThresholds.max_empty_rate),
            max_leak_rate=get("max_leak_rate", _rate, QualityThresholds.max_leak_rate),
            min_body_ratio=get("min_body_ratio", _rate, QualityThresholds.min_body_ratio),
            min_discovery_ratio=get("min_discovery_ratio", _rate, QualityThresholds.min_discovery_ratio),
        ),
        alert_webhook=_webhook(lookup),
        alert_success=get("alert_success", _bool, False),
        gc_grace=get("gc_grace", parse_duration, DEFAULT_GC_GRACE),
        source=source,
        local_stack=fallback,
    )


def _webhook(lookup: Callable[[str], tuple[str | None, str]]) -> str | None:
    value, label = lookup("alert_webhook")
    return _url(value.strip(), label, secret=True) if value and value.strip() else None


def _profile(value: str, label: str) -> SiteProfile:
    try:
        return load_profile(value)
    except UnknownProfile as exc:
        raise SettingsError(f"{label}: {exc}") from None


def _bool(value: str, label: str) -> bool:
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise SettingsError(f"{label} must be true or false, not {value[:40]!r}")


def _count(value: str, label: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise SettingsError(f"{label} must be a whole number (minutes), not {value[:40]!r}") from None
    if number < 0:
        raise SettingsError(f"{label} must not be negative, not {number}")
    return number


def _rate(value: str, label: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise SettingsError(f"{label} must be a number between 0 and 1, not {value[:40]!r}") from None
    if not 0 <= number <= 1:
        raise SettingsError(f"{label} must be between 0 and 1, not {number}")
    return number


def _url(value: str | None, label: str, secret: bool = False) -> str | None:
    """An http(s) URL with a host; the message quotes the value only if it cannot hold a secret."""
    if value is None:
        return None
    try:
        parts = urlsplit(value)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:  # e.g. a malformed port or IPv6 literal
        ok = False
    if not ok:
        shown = "" if secret else f", not {value[:80]!r}"
        raise SettingsError(f"{label} must be an http(s) URL{shown}")
    return value
