"""CDA level 3 → safe HTML (``cda.render``): nothing executable survives, on hostile input
and on every structured example of the ANS CI-SIS (their sections' titles and text are
kept: paragraphs, lists, tables)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from opendmp.cda.render import render_structured_body
from opendmp.domain.errors import InvalidInput

EXAMPLES = Path("/work/shared/testdata/ans-cisis-cda/ExemplesCDA")
ALLOWED_TAGS = {
    "section",
    "div",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "p",
    "br",
    "span",
    "strong",
    "em",
    "small",
    "sub",
    "sup",
    "ul",
    "ol",
    "li",
    "table",
    "caption",
    "thead",
    "tbody",
    "tfoot",
    "tr",
    "th",
    "td",
}
ALLOWED_ATTRIBUTES = {"class", "colspan", "rowspan"}
_TAG = re.compile(r"<\s*(/?)\s*([a-zA-Z0-9:-]+)([^>]*)>")
_ATTRIBUTE = re.compile(r'([a-zA-Z:-]+)="[^"]*"')


def assert_safe(html: str) -> None:
    for closing, tag, rest in _TAG.findall(html):
        assert tag in ALLOWED_TAGS, tag
        names = set(_ATTRIBUTE.findall(rest))
        assert names <= ALLOWED_ATTRIBUTES, (tag, names)
        assert not closing or not rest.strip()
    lowered = html.lower()
    assert "<script" not in lowered
    assert "javascript:" not in lowered
    assert not re.search(r"\son[a-z]+\s*=", lowered)


def cda(body: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:x="http://www.w3.org/1999/xhtml">'
        "<title>Titre</title><component><structuredBody>"
        f"{body}"
        "</structuredBody></component></ClinicalDocument>"
    ).encode()


def section(text: str, title: str = "Section") -> str:
    return f"<component><section><title>{title}</title><text>{text}</text></section></component>"


# --- refusals and hostile input ----------------------------------------------------------------


def test_a_level_1_document_is_not_rendered_as_structured() -> None:
    body = (
        b'<ClinicalDocument xmlns="urn:hl7-org:v3"><component><nonXMLBody>'
        b'<text mediaType="text/plain">x</text></nonXMLBody></component></ClinicalDocument>'
    )
    with pytest.raises(InvalidInput) as refused:
        render_structured_body(body)
    assert refused.value.code == "invalid-cda"


def test_a_document_with_a_doctype_is_refused() -> None:
    with pytest.raises(InvalidInput) as refused:
        render_structured_body(b'<!DOCTYPE x [<!ENTITY a "b">]>' + cda(section("&a;"))[38:])
    assert refused.value.code == "xml-doctype-refused"


def test_a_script_element_keeps_nothing() -> None:
    html = render_structured_body(
        cda(section("<paragraph>avant</paragraph><script>alert(1)</script>après"))
    ).html
    assert_safe(html)
    assert "alert" not in html
    assert "<p>avant</p>" in html and "après" in html


def test_escaped_markup_in_text_stays_text() -> None:
    html = render_structured_body(
        cda(section("<paragraph>&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;</paragraph>"))
    ).html
    assert_safe(html)
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;" in html


def test_event_attributes_and_styles_are_dropped() -> None:
    html = render_structured_body(
        cda(
            section(
                '<paragraph onclick="alert(1)" style="x" ID="p1">a</paragraph>'
                '<table onmouseover="alert(2)" border="1"><tbody><tr>'
                '<td colspan="2" rowspan="x" onfocus="alert(3)">b</td>'
                '<td colspan="99999">c</td></tr></tbody></table>'
                '<content styleCode="Bold Italics" onload="alert(4)">d</content>'
            )
        )
    ).html
    assert_safe(html)
    assert '<td colspan="2">b</td>' in html
    assert "<td>c</td>" in html
    assert "<em><strong><span>d</span></strong></em>" in html


def test_links_are_never_active() -> None:
    html = render_structured_body(
        cda(
            section(
                '<linkHtml href="javascript:alert(1)">ici</linkHtml> '
                '<linkHtml href="https://example.org/a?b=1&amp;c=&quot;2&quot;">site</linkHtml> '
                '<linkHtml href="data:text/html,&lt;script&gt;">data</linkHtml>'
            )
        )
    ).html
    assert_safe(html)
    assert "<a" not in html and "href" not in html
    assert "ici" in html and "data" in html
    assert "site <span" in html and "https://example.org/a?b=1&amp;c=&quot;2&quot;" in html


def test_foreign_namespaces_bring_only_their_text() -> None:
    html = render_structured_body(
        cda(
            section(
                '<x:img src="x" onerror="alert(1)"/><x:iframe src="https://evil">cadre</x:iframe>'
                "<x:div><x:script>alert(2)</x:script>texte</x:div>"
                "<x:style>p{}</x:style><renderMultiMedia referencedObject='m1'/>"
            )
        )
    ).html
    assert_safe(html)
    assert "cadre" in html and "texte" in html
    assert "alert" not in html and "p{}" not in html
    assert "[image]" in html


def test_hostile_titles_are_escaped() -> None:
    html = render_structured_body(
        cda(section("<paragraph>x</paragraph>", title="Motif <script>alert(1)</script>&lt;b&gt;"))
    ).html
    assert_safe(html)
    assert "<h2>Motif &lt;b&gt;</h2>" in html


def test_deep_nesting_is_flattened_not_crashing() -> None:
    deep = "<content>" * 120 + "fond" + "</content>" * 120
    html = render_structured_body(cda(section(f"<paragraph>{deep}</paragraph>"))).html
    assert_safe(html)
    assert "fond" in html


# --- successes ---------------------------------------------------------------------------------


def test_sections_lists_and_tables_are_kept() -> None:
    body = section(
        '<list listType="ordered"><caption>Étapes</caption><item>un</item><item>deux</item></list>'
        "<list><item>puce</item></list>"
        "<table><caption>Résultats</caption><thead><tr><th>Analyse</th></tr></thead>"
        "<tbody><tr><td>Glycémie<br/>à jeun</td></tr></tbody></table>"
        "<paragraph>H<sub>2</sub>O, m<sup>2</sup><footnote>note</footnote></paragraph>",
        title="Biologie",
    ) + (
        "<component><section><title>Parent</title><text>p</text><component><section>"
        "<title>Enfant</title><text>e</text></section></component></section></component>"
    )
    rendered = render_structured_body(cda(body))
    assert rendered.title == "Titre"
    html = rendered.html
    assert_safe(html)
    assert "<h2>Biologie</h2>" in html
    assert '<p class="cda-caption">Étapes</p><ol><li>un</li><li>deux</li></ol>' in html
    assert "<ul><li>puce</li></ul>" in html
    assert "<caption>Résultats</caption>" in html and "<th>Analyse</th>" in html
    assert "Glycémie<br>à jeun" in html
    assert "H<sub>2</sub>O" in html and "m<sup>2</sup>" in html
    assert "<h2>Parent</h2>" in html and "<h3>Enfant</h3>" in html


STRUCTURED = sorted(
    path
    for path in EXAMPLES.glob("*.xml")
    if b"structuredBody" in path.read_bytes() and b"xsl:stylesheet" not in path.read_bytes()[:4000]
)


@pytest.mark.skipif(not EXAMPLES.exists(), reason=f"{EXAMPLES} (CI-SIS examples) not present")
@pytest.mark.parametrize("path", STRUCTURED, ids=lambda p: p.name)
def test_every_ci_sis_structured_example_renders_safely(path: Path) -> None:
    rendered = render_structured_body(path.read_bytes())
    assert_safe(rendered.html)
    assert "<h2>" in rendered.html
    assert rendered.title


@pytest.mark.skipif(not EXAMPLES.exists(), reason=f"{EXAMPLES} (CI-SIS examples) not present")
def test_a_discharge_letter_shows_its_sections() -> None:
    rendered = render_structured_body((EXAMPLES / "LDL-SES_2022.01.xml").read_bytes())
    assert rendered.title == "Lettre de liaison à la sortie de l'établissement de santé"
    assert "<h2>Motif de l&#x27;hospitalisation</h2>" in rendered.html
    assert "Episode psychotique – cachexie/anorexie" in rendered.html
    assert '<th colspan="2">Synthèse médicale du séjour</th>' in rendered.html
