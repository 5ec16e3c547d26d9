"""One settings object: precedence, no silent fallback to the local stack, validation, no secret shown."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.settings import STORAGE_VARIABLES, Settings, SettingsError
from pipelines.storage import StorageError

SECRET = "s3cr3t-Do-Not-Show-9f8e7d"
HOOK = "https://hooks.example.org/services/T0KEN-do-not-show"
STACK = {
    "BRIEFS_S3_ENDPOINT_URL": "http://127.0.0.1:8333",
    "BRIEFS_S3_BUCKET": "insight-briefs",
    "BRIEFS_S3_PREFIX": "insightcrime",
    "AWS_ACCESS_KEY_ID": "briefs-local",
    "AWS_SECRET_ACCESS_KEY": SECRET,
    "AWS_DEFAULT_REGION": "us-east-1",
}


def write_env(path: Path, values: dict[str, str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# test\n" + "".join(f"{k}={v}\n" for k, v in values.items()))
    return path


@pytest.fixture
def stack_dir(tmp_path) -> Path:
    """A local stack's directory with an s3.env, as `python -m infra.stack up` writes it."""
    write_env(tmp_path / "stack" / "s3.env", STACK)
    return tmp_path / "stack"


@pytest.fixture
def bare_environ(monkeypatch, stack_dir):
    """os.environ with no storage variable, and the local stack's directory pointing at `stack_dir`."""
    for name in (*STORAGE_VARIABLES, "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BRIEFS_STACK_DIR", str(stack_dir))
    return stack_dir


def test_a_bucket_alone_means_aws_never_the_local_stack(stack_dir, bare_environ, monkeypatch):
    env = {"BRIEFS_S3_BUCKET": "prod-archive", "BRIEFS_STACK_DIR": str(stack_dir)}
    settings = Settings.from_env(env)
    assert settings.storage.bucket == "prod-archive"
    assert settings.storage.endpoint_url is None, "AWS: no endpoint, certainly not 127.0.0.1"
    assert settings.storage.access_key is None and settings.storage.secret_key is None
    assert (settings.source, settings.local_stack) == ("environment", False)
    monkeypatch.setenv("BRIEFS_S3_BUCKET", "prod-archive")  # the same through os.environ
    assert Settings.from_env().storage.endpoint_url is None


def test_nothing_configured_uses_the_local_stack_and_says_so(stack_dir):
    settings = Settings.from_env({"BRIEFS_STACK_DIR": str(stack_dir)})
    assert settings.local_stack and settings.source == f"local stack {stack_dir / 's3.env'}"
    assert settings.storage.endpoint_url == "http://127.0.0.1:8333"
    assert settings.storage.bucket == "insight-briefs" and settings.storage.secret_key == SECRET
    with pytest.raises(StorageError, match="no bucket configured"):
        Settings.from_env({"BRIEFS_STACK_DIR": str(stack_dir)}, local_stack=False)


def test_a_partial_setup_is_an_error_not_a_fallback(stack_dir):
    env = {
        "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "BRIEFS_STACK_DIR": str(stack_dir),
    }
    with pytest.raises(StorageError, match="no bucket configured") as error:
        Settings.from_env(env)
    assert "AWS_ACCESS_KEY_ID" in str(error.value) and SECRET not in str(error.value)
    # A region alone is machine-wide, not a choice of storage: the local stack still applies.
    region_only = Settings.from_env({"AWS_DEFAULT_REGION": "eu-west-1", "BRIEFS_STACK_DIR": str(stack_dir)})
    assert region_only.local_stack and region_only.storage.region == "us-east-1"


def test_env_file_wins_and_storage_is_never_assembled_from_two_sources(tmp_path, stack_dir):
    ambient = {
        "BRIEFS_S3_ENDPOINT_URL": "http://127.0.0.1:8333",
        "BRIEFS_S3_BUCKET": "local",
        "AWS_ACCESS_KEY_ID": "local-key",
        "BRIEFS_SITE": "http://127.0.0.1:8765/",
        "BRIEFS_POLITE": "true",
        "BRIEFS_STACK_DIR": str(stack_dir),
    }
    file = write_env(tmp_path / "prod.env", {"BRIEFS_S3_BUCKET": "prod", "BRIEFS_POLITE": "off"})
    settings = Settings.from_env(ambient, env_file=file)
    assert settings.storage.bucket == "prod" and settings.source == f"env file {file}"
    assert settings.storage.endpoint_url is None and settings.storage.access_key is None
    assert settings.polite is False, "the file wins for the names it sets"
    assert settings.site == "http://127.0.0.1:8765", "the environment fills the other names"
    # A file without storage variables: storage from the environment, never from the local stack.
    site_only = write_env(tmp_path / "site.env", {"BRIEFS_SITE": "https://example.org"})
    assert Settings.from_env(ambient, env_file=site_only).storage.bucket == "local"
    with pytest.raises(StorageError, match="no bucket configured"):
        Settings.from_env({"BRIEFS_STACK_DIR": str(stack_dir)}, env_file=site_only)
    with pytest.raises(SettingsError, match="does not exist"):
        Settings.from_env(ambient, env_file=tmp_path / "missing.env")


def test_values_are_typed_and_defaults_apply():
    defaults = Settings.from_env({"BRIEFS_S3_BUCKET": "b"})
    assert (defaults.site, defaults.polite, defaults.overlap_minutes) == (
        "https://insightcrime.org",
        True,
        60,
    )
    assert (defaults.quality.max_empty_rate, defaults.quality.max_leak_rate) == (0.2, 0.05)
    assert defaults.quality.min_body_ratio == 0.5 and defaults.alert_webhook is None
    env = {
        "BRIEFS_S3_BUCKET": "b",
        "BRIEFS_S3_PREFIX": "/archive/",
        "BRIEFS_POLITE": "False",
        "BRIEFS_OVERLAP_MINUTES": " 90 ",
        "BRIEFS_MAX_EMPTY_RATE": "0.3",
        "BRIEFS_MAX_LEAK_RATE": "0",
        "BRIEFS_MIN_BODY_RATIO": "0.75",
        "BRIEFS_ALERT_WEBHOOK": "",  # compose's ${BRIEFS_ALERT_WEBHOOK:-}: unset
    }
    settings = Settings.from_env(env)
    assert (
        settings.storage.prefix == "archive" and settings.polite is False and settings.overlap_minutes == 90
    )
    assert (settings.quality.max_empty_rate, settings.quality.max_leak_rate) == (0.3, 0.0)
    assert settings.quality.min_body_ratio == 0.75 and settings.alert_webhook is None


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("BRIEFS_OVERLAP_MINUTES", "an hour"),
        ("BRIEFS_OVERLAP_MINUTES", "-5"),
        ("BRIEFS_MAX_EMPTY_RATE", "20%"),
        ("BRIEFS_MAX_LEAK_RATE", "2"),
        ("BRIEFS_MIN_BODY_RATIO", "half"),
        ("BRIEFS_POLITE", "maybe"),
        ("BRIEFS_SITE", "insightcrime.org"),
    ],
)
def test_malformed_values_fail_naming_the_variable(variable, value):
    with pytest.raises(SettingsError, match=variable) as error:
        Settings.from_env({"BRIEFS_S3_BUCKET": "b", variable: value})
    assert isinstance(error.value, ValueError)


def test_secrets_never_appear_in_repr_str_or_errors():
    env = {**STACK, "BRIEFS_ALERT_WEBHOOK": HOOK}
    settings = Settings.from_env(env)
    assert settings.storage.secret_key == SECRET and settings.alert_webhook == HOOK
    for text in (repr(settings), str(settings), repr(settings.storage), settings.storage.describe()):
        assert SECRET not in text and "T0KEN" not in text
    for bad in (
        {"BRIEFS_ALERT_WEBHOOK": "hooks.example.org/T0KEN-x"},
        {"BRIEFS_S3_ENDPOINT_URL": f"ftp://briefs:{SECRET}@s3.example.org"},
    ):
        with pytest.raises(SettingsError) as error:
            Settings.from_env({**env, **bad})
        assert SECRET not in str(error.value) and "T0KEN" not in str(error.value)
        assert next(iter(bad)) in str(error.value)


def test_airflow_connection_and_variables_come_first(monkeypatch, bare_environ):
    """Outside a task the SDK still reads AIRFLOW_CONN_* / AIRFLOW_VAR_* (its environment secrets backend)."""
    connection = {
        "conn_type": "aws",
        "login": "AKIAPROD",
        "password": SECRET,
        "extra": {"bucket": "prod", "prefix": "ic/", "endpoint_url": "https://minio.example.org"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_BRIEFS_S3", json.dumps(connection))
    monkeypatch.setenv("AIRFLOW_VAR_BRIEFS_SITE", "https://mirror.example.org")
    monkeypatch.setenv("BRIEFS_SITE", "https://ignored.example.org")
    monkeypatch.setenv("BRIEFS_OVERLAP_MINUTES", "15")
    settings = Settings.for_airflow_task()
    assert settings.source == "Airflow connection briefs_s3" and not settings.local_stack
    assert (settings.storage.bucket, settings.storage.prefix) == ("prod", "ic")
    assert (
        settings.storage.endpoint_url == "https://minio.example.org" and settings.storage.secret_key == SECRET
    )
    assert settings.site == "https://mirror.example.org" and settings.overlap_minutes == 15
    assert SECRET not in repr(settings)
    monkeypatch.setenv("AIRFLOW_CONN_BRIEFS_S3", json.dumps({**connection, "extra": {"prefix": "ic"}}))
    with pytest.raises(StorageError, match="connection briefs_s3"):
        Settings.for_airflow_task()
    monkeypatch.delenv("AIRFLOW_CONN_BRIEFS_S3")  # no connection: the environment, a bucket alone means AWS
    monkeypatch.setenv("BRIEFS_S3_BUCKET", "env-bucket")
    fallback = Settings.for_airflow_task()
    assert (fallback.storage.bucket, fallback.storage.endpoint_url, fallback.source) == (
        "env-bucket",
        None,
        "environment",
    )


# ---- the CLI, against a real SeaweedFS bucket ------------------------------------------------------------------
NOTICE = "using the local stack's storage"


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.fixture
def archived(bucket, tmp_path):
    """One real snapshot (run id "t1") in the test's bucket, from a tiny simulated site."""
    from infra.simulator import Simulator, Site
    from pipelines.run import run_once
    from spiders.runner import CrawlJob

    with Simulator(Site(posts=12)) as sim:
        job = CrawlJob(out=tmp_path, site=sim.base, polite=False, mode="reconcile", editions="en")
        run_once(bucket, "t1", job, tmp_path / "t1", logging.getLogger("test"))
    return bucket


def test_cli_env_file_chooses_the_storage(archived, storage_env, tmp_path, monkeypatch, stack_dir):
    env_file = write_env(tmp_path / "briefs.env", storage_env)
    monkeypatch.setenv("BRIEFS_S3_BUCKET", "no-such-bucket")  # the ambient setup points elsewhere
    monkeypatch.setenv("BRIEFS_STACK_DIR", str(stack_dir))
    listing = cli("--env-file", str(env_file), "snapshots")
    assert listing.exit_code == 0, listing.output
    assert "t1" in listing.stdout and NOTICE not in listing.stderr
    ambient = cli("snapshots")
    assert ambient.exit_code == 1 and "no-such-bucket" in ambient.stderr and NOTICE not in ambient.stderr
    assert storage_env["AWS_SECRET_ACCESS_KEY"] not in ambient.output
    missing = cli("--env-file", str(tmp_path / "nope.env"), "snapshots")
    assert missing.exit_code == 1 and "does not exist" in " ".join(missing.stderr.split())  # rich wraps


def test_cli_says_so_in_one_line_only_for_the_local_stack(archived, storage_env, tmp_path, bare_environ):
    write_env(bare_environ / "s3.env", storage_env)  # the local stack's file points at the test's bucket
    listing = cli("snapshots")
    assert listing.exit_code == 0, listing.output
    assert "t1" in listing.stdout
    notice = [line for line in listing.stderr.splitlines() if line.strip()]
    assert len(notice) == 1 and notice[0].startswith(NOTICE) and str(bare_environ / "s3.env") in notice[0]
    assert NOTICE not in listing.stdout
