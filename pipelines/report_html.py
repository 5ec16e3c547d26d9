"""Rendering a change report (``pipelines.changes.ChangeReport``) as text, Markdown, HTML or JSON.

Article text, titles and URLs are untrusted (they come from the crawled site): HTML escapes everything and links
only http(s) URLs, under a Content-Security-Policy that forbids scripts and fetches, so a hostile title is shown
as text. The HTML is one self-contained UTF-8 file (inline CSS, no JavaScript) that reads on a phone. Version
links are relative to the report's key (``reports/…`` → ``../articles/…``): they work wherever the bucket is
browsed or synced as files.
"""

from __future__ import annotations

import html
import re
from urllib.parse import quote

from .changes import ArticleChange, ChangeReport, DiffOp, FieldDiff, report_json

FORMATS = ("text", "md", "html", "json")
COUNT_LABELS = (
    ("new", "new"),
    ("edited", "edited"),
    ("renamed", "renamed"),
    ("aliased", "aliased"),
    ("removed", "removed"),
    ("restored", "restored"),
    ("superseded", "superseded"),
    ("articles", "articles"),
    ("live", "live"),
    ("gone", "gone"),
)
_WEB_URL = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
_MD_SPECIAL = re.compile(r"([\\`*_\[\]{}#|])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # all but tab and newline


def render(report: ChangeReport, fmt: str, link_base: str = "../") -> str:
    """The report in one of ``FORMATS``."""
    if fmt == "json":
        return report_json(report).decode()
    if fmt == "html":
        return render_html(report, link_base)
    if fmt in ("text", "md"):  # crawled text must not drive the reader's terminal: control characters go
        return _CONTROL.sub("", render_text(report, markdown=fmt == "md", link_base=link_base))
    raise ValueError(f"unknown format {fmt!r} (use {', '.join(FORMATS)})")


def heading(report: ChangeReport) -> str:
    if report.since == report.seq:
        return f"What changed after snapshot {report.seq}"
    if report.since == report.seq - 1:
        where = f"snapshot {report.seq}"
    else:
        where = f"snapshots {report.since + 1} to {report.seq}"
    return f"What changed in {where}"


def _window(report: ChangeReport) -> str:
    base = f"since snapshot {report.since}" if report.since else "since the archive began"
    return f"{report.site} · {base} · committed {report.created_at}"


def command(change: ArticleChange, seq: int) -> str:
    return f"briefs article {change.article_id} --at {seq}"


def _link(key: str, link_base: str) -> str:
    return link_base + quote(key, safe="/")


# ---- text and Markdown -----------------------------------------------------------------------------------------
def render_text(report: ChangeReport, markdown: bool = False, link_base: str = "../") -> str:
    """Plain text (``[-old-]{+new+}``), or the same as Markdown with escaped article text."""
    esc = _md_escape if markdown else (lambda s: s)
    counts = " · ".join(f"{getattr(report.counts, name)} {label}" for name, label in COUNT_LABELS)
    lines = [f"# {heading(report)}" if markdown else heading(report), _window(report), counts, ""]
    if not report.articles:
        lines.append("Nothing changed.")
    for change in report.articles:
        title = esc(change.title or "(no title)")
        lines.append(
            f"## {change.kind}: {title} ({change.article_id})"
            if markdown
            else f"{change.kind.upper()} {change.article_id}: {title}"
        )
        bullet = "- " if markdown else "  "
        url = _md_url(change.url) if markdown else change.url
        if change.old_url:
            old = _md_url(change.old_url) if markdown else change.old_url
            lines.append(f"{bullet}URL: {old} → {url}")
        else:
            lines.append(f"{bullet}URL: {url}")
        for alias in change.aliases_added:
            lines.append(f"{bullet}also at: {_md_url(alias) if markdown else alias}")
        for label, ref in (("before", change.old), ("after", change.new)):
            if ref is None:
                continue
            target = f"[{ref.key}]({_link(ref.key, link_base)})" if markdown else ref.key
            cmd = f"`{command(change, ref.seq)}`" if markdown else command(change, ref.seq)
            lines.append(f"{bullet}{label}: v{ref.version} ({ref.status}) {target} · {cmd}")
        for diff in change.fields:
            lines.extend(_text_field(diff, esc, markdown))
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def _text_field(diff: FieldDiff, esc, markdown: bool) -> list[str]:
    body = "".join(_text_op(op, esc) for op in diff.ops)
    if diff.field != "body":
        return [f"{'- ' if markdown else '  '}{diff.field}: {body}"]
    prefix = "> " if markdown else "    "
    out = [f"{'- ' if markdown else '  '}body:"]
    out.extend(f"{prefix}{line}".rstrip() for line in body.split("\n"))
    return out


def _text_op(op: DiffOp, esc) -> str:
    if op.op == "skip":
        return f"[… {op.paragraphs} unchanged paragraphs …]"
    text = esc(op.text)
    return {"equal": text, "delete": f"[-{text}-]", "insert": f"{{+{text}+}}"}[op.op]


def _md_escape(text: str) -> str:
    text = html.escape(text, quote=False)  # no raw HTML from the article reaches a Markdown renderer
    return _MD_SPECIAL.sub(r"\\\1", text)


def _md_url(url: str) -> str:
    return f"<{url}>" if _WEB_URL.fullmatch(url) else f"`{url.replace('`', '')}`"


# ---- HTML ------------------------------------------------------------------------------------------------------
_CSS = """
:root{color-scheme:light dark;--del:#fdd;--ins:#dfd;--muted:#666;--line:#ddd}
@media (prefers-color-scheme:dark){:root{--del:#5a1f1f;--ins:#1f4a26;--muted:#aaa;--line:#444}}
body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:48rem;
padding:1rem;overflow-wrap:anywhere}
h1{font-size:1.4rem;margin:.2rem 0}h2{font-size:1.1rem;margin:0 0 .3rem}h3{font-size:.9rem;margin:.6rem 0 .2rem;
text-transform:uppercase;color:var(--muted)}
.window,.meta{color:var(--muted);font-size:.9rem;margin:.2rem 0}
.counts{display:flex;flex-wrap:wrap;gap:.4rem;list-style:none;padding:0;margin:.8rem 0}
.counts li{border:1px solid var(--line);border-radius:1rem;padding:.1rem .7rem}
article{border-top:1px solid var(--line);padding:.8rem 0}
.kind{font-size:.75rem;text-transform:uppercase;border-radius:.3rem;padding:.05rem .4rem;margin-right:.4rem;
border:1px solid var(--line);vertical-align:middle}
.edited .kind{background:#ffe9a8;color:#000}.new .kind{background:var(--ins)}.removed .kind{background:var(--del)}
.diff{white-space:pre-wrap;border-left:3px solid var(--line);padding:.2rem .6rem}
del{background:var(--del);text-decoration:line-through}ins{background:var(--ins);text-decoration:none}
.skip{color:var(--muted);font-style:italic}
del+ins{margin-left:.3em}
code{font-size:.85rem;background:rgba(127,127,127,.15);padding:0 .2rem;border-radius:.2rem}
"""
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"


def render_html(report: ChangeReport, link_base: str = "../") -> str:
    """One self-contained page: counts, then every article with its diffs and links."""
    e = _escape
    counts = "".join(
        f'<li data-count="{name}"><b>{getattr(report.counts, name)}</b> {label}</li>'
        for name, label in COUNT_LABELS
    )
    articles = "".join(_html_article(c, link_base) for c in report.articles) or "<p>Nothing changed.</p>"
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        f"<title>{e(heading(report))} · {e(report.site)}</title><style>{_CSS}</style></head>\n<body>"
        f'<header><h1>{e(heading(report))}</h1><p class="window">{e(_window(report))}</p>'
        f'<ul class="counts">{counts}</ul></header>\n<main>{articles}</main></body></html>\n'
    )


def _html_article(change: ArticleChange, link_base: str) -> str:
    e = _escape
    urls = _html_url(change.url)
    if change.old_url:
        urls = f"{_html_url(change.old_url)} → {urls}"
    parts = [
        f'<article class="change {change.kind}" id="a-{e(change.article_id)}">',
        f'<h2><span class="kind">{change.kind}</span>{e(change.title or "(no title)")}</h2>',
        f'<p class="meta">article {e(change.article_id)} · {urls}</p>',
    ]
    parts.extend(f'<p class="meta">also at: {_html_url(alias)}</p>' for alias in change.aliases_added)
    for label, ref in (("before", change.old), ("after", change.new)):
        if ref is not None:
            parts.append(
                f'<p class="meta">{label}: <a href="{e(_link(ref.key, link_base))}">v{ref.version}</a> '
                f"({ref.status}, sha256 {ref.sha256[:12]}…) · <code>{e(command(change, ref.seq))}</code></p>"
            )
    for diff in change.fields:
        ops = "".join(_html_op(op) for op in diff.ops)
        parts.append(
            f'<section class="field {diff.field}"><h3>{diff.field}</h3><div class="diff">{ops}</div></section>'
        )
    parts.append("</article>\n")
    return "".join(parts)


def _html_op(op: DiffOp) -> str:
    if op.op == "skip":
        return f'<span class="skip">… {op.paragraphs} unchanged paragraphs …</span>'
    text = _escape(op.text)
    return {"equal": text, "delete": f"<del>{text}</del>", "insert": f"<ins>{text}</ins>"}[op.op]


def _html_url(url: str) -> str:
    """A link only for a web URL; anything else (``javascript:``, …) is shown as text."""
    if _WEB_URL.fullmatch(url):
        return f'<a href="{_escape(url)}" rel="noreferrer">{_escape(url)}</a>'
    return f"<code>{_escape(url)}</code>"


def _escape(text: str) -> str:
    return html.escape(text, quote=True)
