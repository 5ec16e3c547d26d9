"""Deterministic article content for the simulator, built from the real samples in ``data/``.

Generated briefs reuse sentences of real InSight Crime articles so that extraction sees realistic prose; the
seed brief and the four real RSS items are reproduced verbatim so tests can compare against known text.
"""

from __future__ import annotations

import html
import json
import random
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import cache
from pathlib import Path

DATA_DIR = Path(__file__).parent / "data"
_RSS_NS = {
    "content": "http://purl.org/rss/1.0/modules/content/",
    "dc": "http://purl.org/dc/elements/1.1/",
    "wp": "com-wordpress:feed-additions:1",
}

COUNTRIES = [
    "Mexico",
    "Colombia",
    "Peru",
    "Ecuador",
    "Venezuela",
    "Brazil",
    "Honduras",
    "Guatemala",
    "El Salvador",
    "Bolivia",
    "Paraguay",
    "Argentina",
    "Chile",
    "Costa Rica",
    "Panama",
    "Haiti",
]
TOPICS = [
    "Cocaine",
    "Extortion",
    "Security Policy",
    "Elites and Crime",
    "Prisons",
    "Drones",
    "Arms Trafficking",
    "Money Laundering",
    "Illegal Mining",
    "Human Smuggling",
    "Homicides",
    "Synthetic Drugs",
]
GROUPS = [
    "Sinaloa Cartel",
    "Jalisco Cartel",
    "ELN",
    "Gaitanistas",
    "Shining Path",
    "PCC",
    "Red Command",
    "Tren de Aragua",
    "Los Choneros",
    "MS13",
    "Barrio 18",
    "Tiguerones",
]
AUTHORS = [
    "James Bargent",
    "Liza Schmidt",
    "Stella Horrell",
    "Jeremy McDermott",
    "Deborah Bonello",
    "Steven Dudley",
    "Chris Dalby",
    "Parker Asmann",
    "Victoria Dittmar",
    "Henry Shuldiner",
]

_EN_TITLES = [
    "{group} Expands Into {country} {topic} Market",
    "Arrest of {group} Leader Shakes Up {country} Underworld",
    "{country} Authorities Seize Record {topic} Haul",
    "Why {topic} Is Rising in {country}",
    "{group} Turns to {topic} as Profits Shift",
    "New Data Shows {topic} Surge Across {country}",
    "{country} Bets on Military to Tackle {group}",
    "What the Fall of a {group} Boss Means for {country}",
]
_ES_TITLES = [
    "{group} se expande en el mercado de {topic} de {country}",
    "Captura de líder del {group} sacude el hampa de {country}",
    "Autoridades de {country} incautan cifra récord ligada a {topic}",
    "Por qué crece el problema de {topic} en {country}",
    "{country} apuesta por los militares contra el {group}",
]
_ES_SENTENCES = [
    "Las autoridades informaron que la operación se llevó a cabo durante la madrugada en una zona rural.",
    "Según fuentes oficiales, el grupo criminal controla varias rutas de tráfico hacia la frontera.",
    "Analistas consultados por medios locales advirtieron que la violencia podría aumentar en los próximos meses.",
    "La fiscalía abrió una investigación para esclarecer los vínculos entre funcionarios y la organización.",
    "Los habitantes de la región denuncian extorsiones y amenazas constantes por parte de los delincuentes.",
    "El gobierno anunció el despliegue de más tropas, aunque expertos dudan de la eficacia de la medida.",
    "La captura se produjo tras meses de seguimiento por parte de agentes de inteligencia.",
    "El caso pone en evidencia la fragilidad de las instituciones encargadas de la seguridad pública.",
    "De acuerdo con cifras oficiales, los homicidios aumentaron de forma considerable durante el último año.",
    "Las cárceles del país se han convertido en centros de operaciones para las bandas criminales.",
    "Expertos señalan que la economía ilícita se adapta con rapidez a la presión de las autoridades.",
    "La organización habría diversificado sus ingresos con la minería ilegal y el contrabando.",
]
_ES_ANALYSIS = "Análisis de InSight Crime"
_EN_ANALYSIS = "InSight Crime Analysis"


@dataclass
class RealItem:
    """One real RSS item: its body HTML without the feed-only wrapper, and its metadata."""

    post_id: int
    title: str
    url: str
    published: datetime
    authors: list[str]
    terms: list[str]
    body_html: str
    featured_image: str | None = None
    extra: dict = field(default_factory=dict)


def split_authors(creator: str) -> list[str]:
    """WordPress co-author bylines read "A and B" or "A, B and C"."""
    parts = re.split(r",\s*|\s+and\s+|\s+y\s+", creator.strip())
    return [p.strip() for p in parts if p.strip()]


@cache
def real_items() -> tuple[RealItem, ...]:
    root = ET.parse(DATA_DIR / "tag-mexico-feed-2026-09.xml").getroot()
    items = []
    for node in root.iter("item"):
        content = node.findtext("content:encoded", namespaces=_RSS_NS) or ""
        image = re.search(r'<img[^>]+src="([^"]+)"', content)
        # Drop what the feed adds around the body: the title link, the featured image, the "appeared first" line.
        body = re.sub(r"^\s*<p><a [^>]*>.*?</a></p>\s*", "", content, count=1, flags=re.S)
        body = re.sub(r"^\s*<figure><img [^>]*/></figure>\s*", "", body, count=1, flags=re.S)
        body = re.sub(r"<p>The post <a .*?appeared first on .*?</p>\s*$", "", body, flags=re.S)
        items.append(
            RealItem(
                post_id=int(node.findtext("wp:post-id", namespaces=_RSS_NS) or 0),
                title=node.findtext("title") or "",
                url=node.findtext("link") or "",
                published=parsedate_to_datetime(node.findtext("pubDate") or "").astimezone(UTC),
                authors=split_authors(node.findtext("dc:creator", namespaces=_RSS_NS) or ""),
                terms=[c.text or "" for c in node.findall("category")],
                body_html=body.strip(),
                featured_image=html.unescape(image.group(1)) if image else None,
            )
        )
    return tuple(items)


@cache
def seed_page() -> dict:
    """The seed brief: expected metadata plus its body as WordPress block markup."""
    meta = json.loads((DATA_DIR / "seed-expected-metadata.json").read_text())
    paragraphs = [
        p.strip() for p in (DATA_DIR / "seed-expected-body.txt").read_text().split("\n\n") if p.strip()
    ]
    blocks = []
    for i, para in enumerate(paragraphs):
        text = html.escape(para, quote=False)
        if para == _EN_ANALYSIS:
            blocks.append(f'<h3 class="wp-block-heading"><strong>{text}</strong></h3>')
        elif para.startswith("SEE ALSO:"):
            target = para.split(":", 1)[1].strip()
            blocks.append(
                '<blockquote class="wp-block-quote is-layout-flow wp-block-quote-is-layout-flow">\n'
                '<p class="wp-block-paragraph"><em>SEE ALSO:&nbsp;</em><a href="/peru-organized-crime-news/'
                f'shining-path-profile/">{html.escape(target)}</a></p>\n</blockquote>'
            )
        else:
            # The live page ends its first paragraph with a non-breaking space; keep that quirk.
            tail = "&nbsp; " if i == 0 else ""
            blocks.append(f'<p class="wp-block-paragraph">{text}{tail}</p>')
    meta["body_html"] = "\n\n\n\n".join(blocks)
    return meta


@cache
def english_sentences() -> tuple[str, ...]:
    """Plain sentences of the real articles: the prose generated briefs are made of."""
    sentences: list[str] = []
    sources = [item.body_html for item in real_items()] + [seed_page()["body_html"]]
    for body in sources:
        for para in re.findall(r'<p class="wp-block-paragraph">(.*?)</p>', body, re.S):
            text = html.unescape(re.sub(r"<[^>]+>", "", para)).replace("\xa0", " ").strip()
            if text.startswith("SEE ALSO") or len(text) < 60:
                continue
            sentences.extend(s.strip() for s in re.split(r"(?<=[.?!])\s+(?=[A-Z])", text) if len(s) > 40)
    return tuple(dict.fromkeys(sentences))


def make_title(rng: random.Random, lang: str) -> tuple[str, list[str]]:
    """A headline and the tags it implies (country first, as the site's meta line shows)."""
    country, topic, group = rng.choice(COUNTRIES), rng.choice(TOPICS), rng.choice(GROUPS)
    template = rng.choice(_ES_TITLES if lang == "es" else _EN_TITLES)
    return template.format(country=country, topic=topic, group=group), [country, topic, group]


def make_body(rng: random.Random, lang: str, title: str, see_also: tuple[str, str] | None) -> list[str]:
    """Block-markup body: paragraphs, the analysis heading, a SEE ALSO quote, sometimes a list or video."""
    bank = _ES_SENTENCES if lang == "es" else english_sentences()
    analysis = _ES_ANALYSIS if lang == "es" else _EN_ANALYSIS

    def paragraph() -> str:
        return " ".join(rng.sample(bank, k=rng.randint(2, 3)))

    lead = f"{title}. " + paragraph()
    blocks = [lead] + [paragraph() for _ in range(rng.randint(2, 4))]
    blocks.append(("h", analysis))
    blocks += [paragraph() for _ in range(rng.randint(2, 3))]
    if see_also:
        blocks.insert(len(blocks) - 1, ("see", see_also))
    if rng.random() < 0.2:
        blocks.insert(2, ("ul", [paragraph() for _ in range(3)]))
    if rng.random() < 0.1:
        blocks.insert(1, ("video", title))
    return [render_block(b, rng) for b in blocks]


def render_block(block: str | tuple, rng: random.Random) -> str:
    if isinstance(block, str):
        return f'<p class="wp-block-paragraph">{html.escape(block, quote=False)}</p>'
    kind, value = block
    if kind == "h":
        return f'<h2 class="wp-block-heading"><strong>{html.escape(value)}</strong></h2>'
    if kind == "ul":
        items = "\n\n\n\n".join(f"<li>{html.escape(v, quote=False)}</li>" for v in value)
        return f'<ul class="wp-block-list">\n{items}\n</ul>'
    if kind == "video":
        vid = "".join(rng.choice("abcdefghijkLMNOPQ0123456789_-") for _ in range(11))
        return (
            '<figure class="wp-block-embed is-type-video is-provider-youtube wp-block-embed-youtube">'
            f'<div class="wp-block-embed__wrapper">\n<iframe title="{html.escape(value)}" width="780" '
            f'height="439" src="https://www.youtube.com/embed/{vid}?feature=oembed" frameborder="0">'
            "</iframe>\n</div></figure>"
        )
    label, (href, text) = "SEE ALSO:", value
    em = rng.random() < 0.5
    prefix = f"<em>{label}&nbsp;</em>" if em else f"{label} "
    return (
        '<blockquote class="wp-block-quote is-layout-flow wp-block-quote-is-layout-flow">\n'
        f'<p class="wp-block-paragraph">{prefix}<a href="{href}">{html.escape(text)}</a></p>\n</blockquote>'
    )


def edit_paragraph(lang: str, revision: int) -> str:
    """The paragraph an edit appends: editors' updates on the live site read like this."""
    if lang == "es":
        text = f"Actualización {revision}: esta nota fue modificada con información adicional de las autoridades."
    else:
        text = (
            f"Update {revision}: this article was updated with additional information from the authorities."
        )
    return f'<p class="wp-block-paragraph">{text}</p>'


def slugify(title: str) -> str:
    import unicodedata

    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")[:90]
