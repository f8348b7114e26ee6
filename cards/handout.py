"""The printable patient handout: its frame from ``handout.json``, its risks and aftercare from
``risk-disclosure.json`` (the same content the disclosure card and the order's patient instructions carry).

Rendering is pure: :func:`render_handout_html` turns a loaded :class:`Handout` into one self-contained HTML
page (inline print CSS, no scripts, no external assets), every data-file string escaped.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cards.wording import DATA_DIR, WordingError


@dataclass(frozen=True, slots=True)
class HandoutItem:
    """One line of a section: the text, and how often it happens when that is known."""

    text: str
    rate: str | None = None


@dataclass(frozen=True, slots=True)
class HandoutSection:
    """A titled part of the handout."""

    section_id: str
    heading: str
    lead: str | None
    items: tuple[HandoutItem, ...]
    urgent: bool = False


@dataclass(frozen=True, slots=True)
class Handout:
    """Everything the handout page says, in order."""

    version: str
    language: str
    title: str
    link_label: str
    intro: str
    sections: tuple[HandoutSection, ...]
    rate_note: str
    footer: str
    contact_label: str = "Your clinic"
    contact_fallback: str = ""


def load_handout(data_dir: Path = DATA_DIR) -> Handout:
    """Load the handout frame and fill it with the risks and aftercare of ``risk-disclosure.json``.

    Every risk appears in the ``risks`` section; every aftercare item appears once: in the section that names
    its id, else in the section marked ``default``.
    """
    frame = _read_json(data_dir / "handout.json")
    disclosure = _read_json(data_dir / "risk-disclosure.json")
    try:
        risks = tuple(HandoutItem(str(r["text"]), r.get("rate")) for r in disclosure["risks"])
        aftercare = {
            str(item.get("id") or f"aftercare-{index}"): HandoutItem(str(item["text"]))
            for index, item in enumerate(disclosure["aftercare"])
        }
        claimed = {
            item_id
            for section in frame["sections"]
            if section["content"] == "aftercare"
            for item_id in section.get("aftercare", [])
        }
        unknown = sorted(claimed - aftercare.keys())
        if unknown:
            raise WordingError(f"handout.json: unknown aftercare ids {unknown}")
        unclaimed = [item for item_id, item in aftercare.items() if item_id not in claimed]
        sections = []
        for section in frame["sections"]:
            if section["content"] == "risks":
                items = risks
            elif section["content"] == "aftercare":
                items = tuple(aftercare[i] for i in section.get("aftercare", []))
                if section.get("default"):
                    items += tuple(unclaimed)
            else:
                raise WordingError(f"handout.json: section {section['id']} has unknown content")
            sections.append(
                HandoutSection(
                    str(section["id"]),
                    str(section["heading"]),
                    section.get("lead"),
                    items,
                    bool(section.get("urgent")),
                )
            )
        if unclaimed and not any(s.get("default") for s in frame["sections"]):
            raise WordingError("handout.json: no 'default' section for unlisted aftercare items")
        return Handout(
            version=str(frame["version"]),
            language=str(frame["language"]),
            title=str(frame["title"]),
            link_label=str(frame["link_label"]),
            intro=str(frame["intro"]["text"]),
            sections=tuple(sections),
            rate_note=str(frame["rate_note"]),
            footer=str(frame["footer"]),
            contact_label=str(frame.get("contact_label", "Your clinic")),
            contact_fallback=str(frame.get("contact_fallback", "")),
        )
    except (KeyError, TypeError) as error:
        raise WordingError(f"handout.json: missing or malformed {error}") from error


_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;line-height:1.5;color:#111;
background:#fff;margin:0}
main{max-width:42rem;margin:0 auto;padding:1.5rem}
h1{font-size:1.6rem;margin:0 0 .75rem}
h2{font-size:1.2rem;margin:1.5rem 0 .5rem;border-bottom:1px solid #999}
li{margin:.3rem 0}
.rate{font-weight:600}
.urgent{border:2px solid #b00;padding:.25rem 1rem 1rem;border-radius:.4rem}
.contact{font-weight:600}
.note,footer{font-size:.9rem;color:#333}
@media print{
@page{size:auto;margin:1.2cm 1.4cm}
body{font-size:10pt;line-height:1.35}
main{max-width:none;padding:0}
h1{font-size:15pt;margin-bottom:.4rem}
h2{font-size:12pt;margin:.8rem 0 .3rem;break-after:avoid}
li{margin:.1rem 0}
.urgent{border-color:#000;padding:.1rem .8rem .5rem;break-inside:avoid}
.note,footer{font-size:8.5pt}
}
""".strip()


def render_handout_html(handout: Handout, contact: str = "") -> str:
    """The handout as a complete, self-contained HTML5 document. ``contact`` (the clinic's name and phone
    number, setting ``DN_CDS_HANDOUT_CONTACT``) is printed in the urgent section; without it, the frame's
    fallback sentence."""
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{e(handout.language)}">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(handout.title)}</title>",
        f"<style>{_STYLE}</style>",
        "</head>",
        "<body>",
        "<main>",
        f"<h1>{e(handout.title)}</h1>",
        f'<p class="intro">{e(handout.intro)}</p>',
    ]
    for section in handout.sections:
        css = ' class="urgent"' if section.urgent else ""
        parts.append(f'<section id="{e(section.section_id)}"{css}>')
        parts.append(f"<h2>{e(section.heading)}</h2>")
        if section.lead:
            parts.append(f"<p>{e(section.lead)}</p>")
        parts.append("<ul>")
        for item in section.items:
            rate = f': <span class="rate">{e(item.rate)}</span>' if item.rate else ""
            parts.append(f"<li>{e(item.text)}{rate}</li>")
        parts.append("</ul>")
        if section.urgent and (contact or handout.contact_fallback):
            text = f"{handout.contact_label}: {contact}" if contact else handout.contact_fallback
            parts.append(f'<p class="contact">{e(text)}</p>')
        if any(item.rate for item in section.items):
            parts.append(f'<p class="note">{e(handout.rate_note)}</p>')
        parts.append("</section>")
    parts += [
        f"<footer><p>{e(handout.footer)}</p><p>Version {e(handout.version)}</p></footer>",
        "</main>",
        "</body>",
        "</html>",
        "",
    ]
    return "\n".join(parts)


def _read_json(path: Path) -> Mapping[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError) as error:
        raise WordingError(f"{path.name}: {error}") from error
    if not isinstance(document, Mapping):
        raise WordingError(f"{path.name}: expected a JSON object")
    return document
