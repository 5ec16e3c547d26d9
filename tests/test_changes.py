"""Change reports on a real archive: the simulator's ground truth, word-level diffs, every format, the stored
report, hostile titles, and the HTML in a real (headless) Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
from datetime import timedelta
from pathlib import Path

import msgspec
import pytest
from typer.testing import CliRunner

from pipelines import layout
from pipelines.archive import Archive
from pipelines.changes import ChangeReport, body_ops, build_report, publish_report, read_report, word_ops
from pipelines.cli import app
from pipelines.documents import DamagedObject
from pipelines.report_html import render, render_html

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
]
HOSTILE = "<script>alert('x')</script> "


@pytest.fixture(scope="module")
def archive_env(simulated_archive):
    """Snapshots 1-4 (``four_snapshots``), then 5: the first edited brief edited again, its title now carrying a
    <script> tag."""
    with simulated_archive("changes-tests", posts=200) as rig:
        sim = rig.sim
        change = rig.four_snapshots()
        sim.site.advance(hours=24, new=0, edited=0, renamed=0, removed=0)
        with sim.site.lock:
            post = sim.site.posts[change.edited[0]]
            post.revision += 1
            post.title = HOSTILE + post.title
            post.modified = sim.site.now - timedelta(hours=2)
        rig.run("fifth", mode="nightly", editions="en")
        yield rig.env, change, sim, rig.bucket


@pytest.fixture
def archived(archive_env, monkeypatch):
    env, change, _, bucket = archive_env
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return change, Archive(bucket)


def ids(report: ChangeReport, kind: str) -> set[str]:
    return {a.article_id for a in report.articles if a.kind == kind}


def inserted(change, field: str) -> str:
    return "".join(op.text for d in change.fields if d.field == field for op in d.ops if op.op == "insert")


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


def test_a_snapshot_report_lists_exactly_what_the_site_did(archived):
    change, archive = archived
    assert archive.seqs() == [1, 2, 3, 4, 5]
    report = build_report(archive, 2)
    assert (report.seq, report.since, report.snapshots) == (2, 1, [2])
    assert report.created_at == archive.manifest(2).created_at, "no clock inside a report"
    assert ids(report, "edited") == {str(i) for i in change.edited}
    assert ids(report, "new") == {str(i) for i in change.new}
    assert ids(report, "renamed") == {str(i) for i in change.renamed}
    assert not ids(report, "removed") and not ids(report, "aliased") and not ids(report, "restored")
    counts = report.counts
    assert (counts.edited, counts.new, counts.renamed, counts.removed) == (2, 2, 1, 0)
    assert counts.articles == archive.manifest(2).counts.articles
    removal = build_report(archive, 3)
    assert [(a.kind, a.article_id) for a in removal.articles] == [("removed", str(change.removed[0]))]
    gone = removal.articles[0]
    assert gone.old.status == "live" and gone.new.status == "gone" and gone.title
    assert build_report(archive, 4).articles == [], "a quiet night reports nothing"

    by_id = {a.article_id: a for a in report.articles}
    for post_id in change.edited:
        edit = by_id[str(post_id)]
        old, new = archive.index(1)[str(post_id)], archive.index(2)[str(post_id)]
        assert (edit.old.key, edit.old.sha256, edit.old.seq) == (old.key, old.sha256, 1)
        assert (edit.new.key, edit.new.sha256, edit.new.version) == (new.key, new.sha256, 2)
        assert "Update 1: this article was updated with additional information" in inserted(edit, "body")
        assert not any(op.op == "delete" for d in edit.fields if d.field == "body" for op in d.ops)
        assert edit.url == new.url and edit.old_url is None
    for post_id, old_path in change.renamed.items():
        rename = by_id[str(post_id)]
        assert rename.old_url.endswith(old_path) and rename.url.endswith(old_path.rstrip("/") + "-updated/")
        assert rename.old.key == rename.new.key and rename.fields == []


def test_a_long_body_shows_the_changed_paragraphs_with_context(archived):
    change, archive = archived
    old = archive.article(change.edited[1], at=1).text
    new = archive.article(change.edited[1], at=2).text
    ops = body_ops(old, new)
    shown = "".join(op.text for op in ops)
    assert ops[0].op == "skip" and ops[0].paragraphs >= 2, "the unchanged start is summarised"
    assert len(shown) < len(new) / 2, "not the whole article"
    assert ops[-1].op == "insert" and ops[-1].text.startswith("Update 1:")
    last = [p for p in old.split("\n\n") if p.strip()][-1]
    assert last.strip() in shown, "the paragraph before the change is kept as context"


def test_word_level_ops_keep_spacing_and_group_replacements():
    ops = word_ops("The quick brown fox  jumps.\n\nEnd", "The slow red fox  leaps.\n\nEnd")
    assert [(o.op, o.text) for o in ops] == [
        ("equal", "The "),
        ("delete", "quick brown"),
        ("insert", "slow red"),
        ("equal", " fox  "),
        ("delete", "jumps."),
        ("insert", "leaps."),
        ("equal", "\n\nEnd"),
    ]
    text = "".join(o.text for o in ops if o.op != "delete")
    assert text == "The slow red fox  leaps.\n\nEnd"


def test_a_window_merges_snapshots_from_before_it_to_its_latest(archived):
    change, archive = archived
    report = build_report(archive, 5, since=1)
    twice = str(change.edited[0])
    assert ids(report, "edited") == {str(i) for i in change.edited}
    assert ids(report, "new") == {str(i) for i in change.new}
    assert ids(report, "renamed") == {str(i) for i in change.renamed}
    assert ids(report, "removed") == {str(i) for i in change.removed}
    merged = next(a for a in report.articles if a.article_id == twice)
    assert (merged.old.version, merged.new.version, merged.old.seq, merged.new.seq) == (1, 3, 1, 5)
    body = inserted(merged, "body")
    assert "Update 1:" in body and "Update 2:" in body
    assert inserted(merged, "title").startswith("<script>"), "the title diff shows the inserted words"
    assert report.snapshots == [2, 3, 4, 5] and report.counts.edited == 2


def test_publish_writes_the_same_bytes_and_the_json_validates(archived, archive_env):
    change, archive = archived
    bucket = archive_env[3]
    summary = publish_report(bucket, 2)
    assert summary["html"] == layout.report_key(2, "html") == "reports/00000002.html"
    assert summary["articles"] == 5 and summary["counts"]["edited"] == 2
    first = bucket.get(summary["json"]), bucket.get(summary["html"])
    assert publish_report(bucket, 2) == summary
    assert (bucket.get(summary["json"]), bucket.get(summary["html"])) == first, (
        "a retry writes the same bytes"
    )
    stored = read_report(bucket, 2)
    assert stored == build_report(archive, 2) and stored.format == "insight-briefs-changes/1"
    document = json.loads(first[0])
    entry = next(a for a in document["articles"] if a["kind"] == "edited")
    assert {"kind", "article_id", "url", "old_url", "title", "old", "new", "fields"} <= set(entry)
    assert {"key", "sha256", "version"} <= set(entry["old"]) and entry["fields"][-1]["field"] == "body"
    html = first[1].decode()
    for post_id in change.edited:
        key = archive.index(2)[str(post_id)].key
        assert f'href="../{key}"' in html and f"briefs article {post_id} --at 2" in html

    bucket.put(
        layout.report_key(3, "json"), first[0], "application/json"
    )  # snapshot 2's report under 3's key
    with pytest.raises(DamagedObject, match=r"reports/00000003\.json: is the report of snapshot 2"):
        read_report(bucket, 3)
    bucket.put(layout.report_key(3, "json"), first[0].replace(b'"kind":"edited"', b'"kind":"mangled"'))
    with pytest.raises(DamagedObject, match=r"reports/00000003\.json: not a valid ChangeReport"):
        read_report(bucket, 3)
    publish_report(bucket, 3)
    assert read_report(bucket, 3).articles[0].kind == "removed"


def test_a_damaged_version_fails_loudly_naming_its_key(archived, archive_env):
    change, archive = archived
    bucket = archive_env[3]
    key = archive.index(2)[str(change.edited[1])].key
    original = bucket.get(key)
    bucket.put(key, original[:-20])
    try:
        with pytest.raises(DamagedObject, match=re.escape(key)):
            build_report(Archive(bucket), 2)
    finally:
        bucket.put(key, original)
    assert build_report(Archive(bucket), 2).counts.edited == 2


def test_a_hostile_title_is_text_in_every_format(archived):
    _, archive = archived
    report = build_report(archive, 5)
    assert [a.kind for a in report.articles] == ["edited"]
    assert report.articles[0].title.startswith("<script>")
    html = render_html(report)
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    assert "<script" not in html.lower() and "Content-Security-Policy" in html
    assert "<script" not in render(report, "md").lower()
    assert json.loads(render(report, "json"))["articles"][0]["title"].startswith("<script>")


@pytest.mark.parametrize("fmt", ["text", "md", "html", "json"])
def test_cli_changes_in_each_format(archived, fmt):
    change, _ = archived
    result = cli("changes", "--at", "2", "--format", fmt)
    assert result.exit_code == 0, result.output
    out = result.stdout
    if fmt == "json":
        report = msgspec.json.decode(out.encode(), type=ChangeReport)
        assert ids(report, "edited") == {str(i) for i in change.edited}
        return
    renamed, old_path = next(iter(change.renamed.items()))
    for post_id in [*change.edited, *change.new, renamed]:
        assert str(post_id) in out
    assert old_path in out and f"briefs article {change.edited[0]} --at 1" in out
    marked = {
        "text": "{+Update 1: this article was updated",
        "md": "{+Update 1: this article was updated",
        "html": "<ins>Update 1: this article was updated",
    }
    assert marked[fmt] in out
    assert ("2 edited" in out) if fmt != "html" else ('data-count="edited"><b>2</b>' in out)


def test_cli_changes_windows_defaults_files_and_errors(archived, tmp_path):
    change, _ = archived
    latest = cli("changes")
    assert latest.exit_code == 0 and "What changed in snapshot 5" in latest.stdout
    assert "[-" not in latest.stdout.split("title:")[1].split("\n")[0] and "{+<script>" in latest.stdout
    window = cli("changes", "--since", "1", "--format", "json", "--out", str(tmp_path / "w.json"))
    assert window.exit_code == 0, window.output
    report = msgspec.json.decode((tmp_path / "w.json").read_bytes(), type=ChangeReport)
    assert (report.since, report.seq) == (1, 5) and ids(report, "removed") == {str(change.removed[0])}
    everything = json.loads(cli("changes", "--since", "1900-01-01", "--format", "json").stdout)
    counts = everything["counts"]
    assert everything["since"] == 0 and counts["removed"] == 1, "new and removed in the window: removed"
    assert counts["new"] + counts["removed"] == counts["articles"]
    removed = next(a for a in everything["articles"] if a["kind"] == "removed")
    assert removed["old"] is None and removed["new"]["status"] == "gone"
    future = json.loads(cli("changes", "--since", "2999-01-01", "--format", "json").stdout)
    assert future["articles"] == [] and future["since"] == future["seq"] == 5
    for args, message in [
        (("--format", "pdf"), "unknown format 'pdf'"),
        (("--at", "77"), "no snapshot 77"),
        (("--since", "99"), "no snapshot 99"),
    ]:
        result = cli("changes", *args)
        assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is installed by .ci/run")
def test_the_html_report_in_a_real_browser(archived, tmp_path):
    """Rendered by Chromium from a file laid out like the bucket; BRIEFS_SCREENSHOTS=docs refreshes the README's
    screenshot (docs/img/change-report.png)."""
    from playwright.sync_api import sync_playwright

    change, archive = archived
    page_file = tmp_path / "reports" / "window.html"
    page_file.parent.mkdir()
    page_file.write_text(render_html(build_report(archive, 5, since=1)), encoding="utf-8")
    shots = REPO / "docs" / "img" if os.environ.get("BRIEFS_SCREENSHOTS") == "docs" else tmp_path
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        phone = browser.new_page(viewport={"width": 390, "height": 844})
        phone.goto(page_file.as_uri())
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390, (
            "no sideways scrolling on a phone"
        )
        page = browser.new_page(viewport={"width": 900, "height": 1000})
        page.goto(page_file.as_uri())
        assert page.locator("ins").first.is_visible() and page.locator("del").first.is_visible()
        assert "Update 2:" in " ".join(page.locator("ins").all_inner_texts())
        assert page.locator('[data-count="edited"]').inner_text() == "2 edited"
        assert page.locator('[data-count="removed"]').inner_text() == "1 removed"
        edited = page.locator(f"#a-{change.edited[0]} h2").inner_text()
        assert HOSTILE.strip() in edited and page.evaluate("document.scripts.length") == 0
        assert (
            page.locator("del").first.evaluate("e => getComputedStyle(e).textDecorationLine")
            == "line-through"
        )
        page.screenshot(path=str(shots / "change-report.png"), full_page=True)
        browser.close()
    assert (shots / "change-report.png").stat().st_size > 10_000
