"""The first hour with the local stack offline: a seeded history to read at once (the stack's simulator, a real
process, replays days of news into a real SeaweedFS archive), the README's reading commands on it, `briefs
--offline` beside the stack's simulator or without it, piped tables, and `pipelines` never importing `infra`."""

from __future__ import annotations

import ast
import io
import json
import shlex
import socket
import subprocess
import sys
import tomllib
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest
from rich.table import Table
from typer.testing import CliRunner

from infra import offline
from infra.seaweedfs import free_port
from infra.simulator import Simulator, Site
from infra.simulator.clock import Journal
from pipelines.archive import Archive
from pipelines.cli import Stdout, app, plugin
from pipelines.settings import Settings
from pipelines.storage import Bucket

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
PYPROJECT = REPO / "pyproject.toml"
IDENTITY = {"posts": offline.SIM_POSTS, "seed": 7, "site": "insightcrime"}  # what simulator_command serves


def _start(command: list[str], url: str) -> subprocess.Popen:
    """The simulator as the stack runs it: its own process; ready once its clock answers."""
    proc = subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    while offline.clock(url) is None:
        if proc.poll() is not None:
            pytest.fail(f"the simulator exited: {proc.stderr.read().decode()[-600:]}")
    return proc


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(30)


@pytest.fixture(scope="module")
def seeded(seaweed, tmp_path_factory):
    """What the first `up --offline` leaves: the stack's simulator (clock at the present) and a seeded archive."""
    stack = tmp_path_factory.mktemp("first-hour-stack")
    env = seaweed.env(bucket="first-hour")
    Bucket(Settings.from_env(env).storage).ensure_bucket(versioning=True)
    url = f"http://127.0.0.1:{free_port()}"
    command = offline.simulator_command(int(url.rsplit(":", 1)[1]), stack)
    rig = SimpleNamespace(stack=stack, env=env, url=url, command=command, proc=_start(command, url), said=[])
    offline.record_simulator(stack, url)
    offline.seed_history(stack, env, url, say=rig.said.append)
    yield rig
    _stop(rig.proc)


@pytest.fixture
def truth(seeded):
    """The simulator's changes, from its journal: the same seed and advances make the same site."""
    journal = Journal.open(seeded.stack / "simulator" / "clock.json", None, 0, IDENTITY)
    return journal.build(posts=IDENTITY["posts"], seed=IDENTITY["seed"]).changes


@pytest.fixture
def briefs(seeded, monkeypatch):
    """`briefs` as a user runs it after `up --offline`: the stack's storage and its simulator's record."""
    for key, value in seeded.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("BRIEFS_STACK_DIR", str(seeded.stack))
    return lambda *args: CliRunner().invoke(app, list(args))


def test_seed_history_archives_days_of_news(seeded, truth):
    archive = Archive(Bucket(Settings.from_env(seeded.env).storage))
    assert archive.seqs() == [1, 2, 3, 4], seeded.said
    runs = [archive.manifest(seq).run_id for seq in archive.seqs()]
    assert [r.rsplit("-", 1)[1] for r in runs] == ["reconcile", "nightly", "nightly", "reconcile"]
    assert len(truth) == offline.HISTORY_DAYS
    for change in truth:
        for post_id in change.edited:
            assert archive.entry(post_id).version >= 2 and "Update 1:" in archive.article(post_id).text
        for post_id, old_path in change.renamed.items():
            entry = archive.entry(post_id)
            assert entry.url.endswith("-updated/") and seeded.url + old_path in entry.aliases
        for post_id in change.removed:
            assert archive.entry(post_id).status == "gone"
        assert all(archive.entry(post_id).status == "live" for post_id in change.new)
    state = offline.clock(seeded.url)
    assert state["replayed"] and state["advances"] == offline.HISTORY_DAYS
    offline.seed_history(seeded.stack, seeded.env, seeded.url, say=seeded.said.append)
    assert archive.seqs() == [1, 2, 3, 4] and len(seeded.said) == 4, "a second call changes nothing"


def _reading_commands() -> list[list[str]]:
    """The `uv run briefs ...` lines of the README's "Reading the archive" block, comments stripped."""
    text = README.read_text()
    section = text[text.index("## Reading the archive") :]
    block = section[
        section.index("```bash") + len("```bash") : section.index("```", section.index("```bash") + 7)
    ]
    commands = [shlex.split(line, comments=True) for line in block.strip().splitlines()]
    assert commands and all(c[:3] == ["uv", "run", "briefs"] for c in commands), block
    return [c[3:] for c in commands]


def test_readme_reading_commands_run_on_the_offline_archive(briefs, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # exports land here
    shown = {}
    for args in _reading_commands():
        result = briefs(*args)
        assert result.exit_code == 0, f"briefs {shlex.join(args)}: {result.output}"
        shown[args[0]] = result
    history = shown["history"].stdout.strip().splitlines()
    assert len(history) >= 3, "the README's history example has several versions (a header and 2+ rows)"
    assert "+Update 1:" in shown["diff"].stdout and "now at http://" in shown["diff"].stdout


def test_piped_tables_are_tab_separated_and_never_cut(briefs):
    listing = briefs("articles", "--changed").stdout.splitlines()
    rows = [line.split("\t") for line in listing]
    assert rows[0] == ["id", "edition", "versions", "status", "former urls", "title", "url"]
    assert len(rows) > 1 and all(len(row) == 7 for row in rows)
    assert all(row[6].startswith("http://") and row[6].endswith("/") for row in rows[1:])
    assert max(map(len, listing)) > 80
    snapshots = briefs("snapshots").stdout.splitlines()
    assert len(snapshots) == 5 and {line.count("\t") for line in snapshots} == {8}

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Stdout()
    terminal.file = Terminal()
    terminal.print(Table("id", "url"))
    assert "\t" not in terminal.file.getvalue() and "id" in terminal.file.getvalue()


def test_diff_history_and_dates_say_what_they_mean(briefs, seeded, truth):
    renamed = next(i for c in truth for i in c.renamed if all(i not in d.edited for d in truth))
    current = briefs("articles").stdout
    url = next(line.split("\t")[6] for line in current.splitlines() if line.startswith(f"{renamed}\t"))
    one = briefs("diff", str(renamed))
    assert one.exit_code == 0 and "has one version" in one.stdout and url in one.stdout
    header = briefs("article", str(renamed)).stdout.splitlines()[1]
    assert url in header and "captured as" in header
    history = briefs("history", str(renamed))
    assert url in history.stderr and len(history.stdout.splitlines()) == 2
    edited = truth[0].edited[0]
    assert "now at http://" in briefs("diff", str(edited)).stdout.splitlines()[1]
    early = briefs("article", str(edited), "--at", "2000-01-01")
    first = Archive(Bucket(Settings.from_env(seeded.env).storage)).manifest(1).created_at
    assert early.exit_code == 1 and first in early.output and "dated by capture" in early.output


def test_offline_run_uses_the_stacks_simulator(briefs, seeded):
    refused = briefs("run", "--offline", "--simulate-days", "2")
    assert refused.exit_code == 1 and "local stack's simulator is up" in refused.output
    result = briefs("run", "--offline")
    assert result.exit_code == 0, result.output
    assert f"the local stack's site simulator at {seeded.url}" in result.stderr
    summary = json.loads(result.stdout)
    manifest = Archive(Bucket(Settings.from_env(seeded.env).storage)).manifest(summary["snapshot"])
    assert summary["snapshot"] == 5 and manifest.run["site"] == seeded.url


def test_offline_without_the_stack_says_what_holds_the_port(tmp_path, monkeypatch):
    monkeypatch.setenv("BRIEFS_STACK_DIR", str(tmp_path))  # no stack recorded here
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        monkeypatch.setenv("BRIEFS_SIM_PORT", str(taken.getsockname()[1]))
        result = CliRunner().invoke(app, ["run", "--offline"])
    assert result.exit_code == 1 and "taken by another program" in result.output
    assert "infra.stack up --offline" in result.output and "Traceback" not in result.output
    with Simulator(Site(posts=20)) as stranger:
        monkeypatch.setenv("BRIEFS_SIM_PORT", stranger.base.rsplit(":", 1)[1])
        result = CliRunner().invoke(app, ["probe", "--offline"])
    assert result.exit_code == 1 and "a site simulator the local stack did not record" in result.output
    monkeypatch.setenv("BRIEFS_SIM_PORT", str(free_port()))
    with offline.offline_site(simulate_days=1, posts=40) as own:
        assert "of its own" in own.description and offline.clock(own.base)["now"] == own.now.isoformat()


def test_a_restarted_simulator_serves_the_same_site(seeded, truth):
    before = offline.clock(seeded.url)
    _stop(seeded.proc)
    seeded.proc = _start(seeded.command, seeded.url)
    assert offline.clock(seeded.url) == before
    site = Journal.open(seeded.stack / "simulator" / "clock.json", None, 0, IDENTITY).build(
        posts=IDENTITY["posts"]
    )
    post = site.posts[truth[0].edited[0]]
    page = urllib.request.urlopen(seeded.url + post.path, timeout=10).read().decode()
    assert "Update 1:" in page


# ---- layering: infra builds on pipelines, never the reverse --------------------------------------------------
def test_pipelines_never_import_infra():
    offenders = []
    for path in sorted((REPO / "pipelines").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                "import_module",
                "__import__",
            ):
                names = [a.value for a in node.args[:1] if isinstance(a, ast.Constant)]
            else:
                continue
            offenders += [
                f"{path.relative_to(REPO)}:{node.lineno} {n}" for n in names if n.split(".")[0] == "infra"
            ]
    assert not offenders, "pipelines must not import infra (use the briefs.plugins entry points)"
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, pipelines.cli; print(sorted(m for m in sys.modules if m.startswith('infra')))",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert loaded.stdout.strip() == "[]"


def test_infra_parts_are_declared_entry_points():
    declared = tomllib.loads(PYPROJECT.read_text())["project"]["entry-points"]
    assert declared["briefs.plugins"] == {"offline": "infra.offline", "pywb": "infra.replay"}
    assert plugin("offline").offline_site is offline.offline_site
    assert plugin("pywb").ReplayServer.__module__ == "infra.replay"
