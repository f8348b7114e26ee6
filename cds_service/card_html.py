"""Cards as an EHR shows them, in HTML: indicator in words and colour, summary, the detail's markdown
rendered, suggestions, links and override reasons. Pure; used by the preview page (``GET /preview``) and
``dn-cds demo --html``.

The detail markdown is the small subset the card builder writes (paragraphs, ``- `` lists, ``**bold**``,
backslash escapes of the EHR's own text); everything else is shown as text, escaped.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_BOLD = re.compile(r"\*\*(.+?)\*\*")
_ESCAPED = re.compile(r"\\([\\`*_\[\]<>|~:.])")
_PLACEHOLDER = "\x00{}\x00"
INDICATOR_WORDS = {"critical": "Critical", "warning": "Warning", "info": "Info"}


@dataclass(frozen=True, slots=True)
class HookCards:
    """The cards one hook call returned (or why it returned none)."""

    hook: str
    cards: tuple[Mapping[str, Any], ...]
    error: str | None = None


@dataclass(frozen=True, slots=True)
class PatientCards:
    """A demo patient and the cards each hook gave for it."""

    slug: str
    title: str
    description: str
    hooks: tuple[HookCards, ...]


def markdown_html(text: str) -> str:
    """The card-detail markdown subset as HTML: paragraphs, ``- `` bullet lists, ``**bold**``, escapes."""
    blocks = [block for block in re.split(r"\n\s*\n", text.strip()) if block.strip()]
    out: list[str] = []
    for block in blocks:
        lines = block.split("\n")
        lead = [line for line in lines if not line.startswith("- ")]
        items = [line[2:] for line in lines if line.startswith("- ")]
        if lead:
            out.append(f"<p>{'<br>'.join(_inline(line) for line in lead)}</p>")
        if items:
            out.append("<ul>" + "".join(f"<li>{_inline(item)}</li>" for item in items) + "</ul>")
    return "\n".join(out)


def _inline(text: str) -> str:
    """Escaped text with ``**bold**``; a backslash-escaped character is shown as itself."""
    literals: list[str] = []

    def keep(match: re.Match[str]) -> str:
        literals.append(match.group(1))
        return _PLACEHOLDER.format(len(literals) - 1)

    protected = _ESCAPED.sub(keep, text)
    escaped = html.escape(protected, quote=False)
    bolded = _BOLD.sub(lambda m: f"<strong>{m.group(1)}</strong>", escaped)
    return re.sub("\x00(\\d+)\x00", lambda m: html.escape(literals[int(m.group(1))]), bolded)


def card_html(card: Mapping[str, Any]) -> str:
    """One card as an EHR would render it."""
    e = html.escape
    indicator = str(card.get("indicator", "info"))
    source = card.get("source") or {}
    parts = [
        f'<article class="card {e(indicator)}">',
        f'<p class="summary"><span class="indicator">{e(INDICATOR_WORDS.get(indicator, indicator))}</span> '
        f"{e(str(card.get('summary', '')))}</p>",
    ]
    if card.get("detail"):
        parts.append(f'<div class="detail">{markdown_html(str(card["detail"]))}</div>')
    suggestions = card.get("suggestions") or []
    if suggestions:
        parts.append('<p class="label">Suggestions</p><ul class="suggestions">')
        for suggestion in suggestions:
            recommended = " (recommended)" if suggestion.get("isRecommended") else ""
            actions = "; ".join(str(a.get("description", "")) for a in suggestion.get("actions") or [])
            parts.append(
                f'<li><button type="button" disabled>{e(str(suggestion.get("label", "")))}</button>'
                f"{e(recommended)}<br><small>{e(actions)}</small></li>"
            )
        parts.append("</ul>")
    links = card.get("links") or []
    if links:
        parts.append('<p class="label">Links</p><ul class="links">')
        parts += [f'<li><a href="{e(str(link["url"]))}">{e(str(link["label"]))}</a></li>' for link in links]
        parts.append("</ul>")
    reasons = card.get("overrideReasons") or []
    if reasons:
        parts.append('<p class="label">Override reasons offered</p><ul class="override-reasons">')
        parts += [f"<li>{e(str(reason.get('display', '')))}</li>" for reason in reasons]
        parts.append("</ul>")
    label = e(str(source.get("label", "")))
    if source.get("url"):
        label = f'<a href="{e(str(source["url"]))}">{label}</a>'
    parts.append(f'<p class="source">Source: {label}</p>')
    parts.append("</article>")
    return "\n".join(parts)


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;line-height:1.45;color:#111;
background:#f4f4f4;margin:0}
main{max-width:60rem;margin:0 auto;padding:1rem 1.5rem 3rem}
h1{font-size:1.6rem}h2{margin-top:2.5rem;border-bottom:2px solid #333}h3{margin:1.5rem 0 .5rem}
nav ol{columns:2}
.card{background:#fff;border:1px solid #bbb;border-left:.6rem solid #1f5fa8;border-radius:.3rem;
padding:.5rem 1rem;margin:.75rem 0}
.card.warning{border-left-color:#b35900}.card.critical{border-left-color:#b00020}
.summary{font-weight:600;font-size:1.05rem}
.indicator{display:inline-block;min-width:4.5rem;padding:0 .4rem;margin-right:.4rem;border-radius:.2rem;
color:#fff;background:#1f5fa8;font-size:.85rem;text-align:center}
.warning .indicator{background:#8a4500}.critical .indicator{background:#b00020}
.label{font-weight:600;margin:.5rem 0 .2rem}.source{font-size:.9rem;color:#333}
.none{font-style:italic}
""".strip()


def render_preview_html(patients: Sequence[PatientCards], *, title: str, intro: str, footer: str = "") -> str:
    """The preview page: a table of contents, then each demo patient's cards on each hook."""
    e = html.escape
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        "<main>",
        f"<h1>{e(title)}</h1>",
        f"<p>{e(intro)}</p>",
        '<nav aria-label="Demo patients"><h2 id="contents">Demo patients</h2><ol>',
    ]
    out += [f'<li><a href="#patient-{e(p.slug)}">{e(p.title)}</a></li>' for p in patients]
    out.append("</ol></nav>")
    for patient in patients:
        out.append(f'<section id="patient-{e(patient.slug)}" class="patient">')
        out.append(f"<h2>{e(patient.title)}</h2>")
        out.append(f"<p>{e(patient.description)}</p>")
        for hook in patient.hooks:
            out.append(f'<section class="hook" data-hook="{e(hook.hook)}">')
            out.append(f'<h3 id="patient-{e(patient.slug)}-{e(hook.hook)}">On {e(hook.hook)}</h3>')
            if hook.error:
                out.append(f'<p class="none">No cards: {e(hook.error)}</p>')
            elif not hook.cards:
                out.append('<p class="none">No cards.</p>')
            out += [card_html(card) for card in hook.cards]
            out.append("</section>")
        out.append('<p><a href="#contents">Back to the list of patients</a></p>')
        out.append("</section>")
    if footer:
        out.append(f"<footer><p>{e(footer)}</p></footer>")
    out += ["</main>", "</body>", "</html>", ""]
    return "\n".join(out)
