"""Languages of the public pages: complete catalogues, every visible string marked for
translation, the language chosen from ?lang=, a remembered choice and Accept-Language among the
platform's languages, and <html lang> on every page."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from jinja2 import nodes

import staydown.web.templating as templating
from staydown import i18n
from staydown.i18n_check import problems
from staydown.web.templating import ENV, TEMPLATES_DIR
from tests.intake.test_hash_submissions import send

LOCALE = Path(i18n.__file__).parent / "locale"
# The templates people outside read (the console's own: tests/web/test_console_i18n.py).
PUBLIC_TEMPLATES = [
    *sorted(p.relative_to(TEMPLATES_DIR).as_posix() for p in TEMPLATES_DIR.glob("public/*.html")),
    "base.html",
    "error.html",
]
VISIBLE_ATTRIBUTES = {"title", "alt", "aria-label", "placeholder", "aria-description"}
GETTEXT = {"_", "gettext", "ngettext", "pgettext"}
WORDS = re.compile(r"[A-Za-z]{2,}")


def test_every_shipped_catalogue_is_complete_with_nothing_fuzzy() -> None:
    """Fails on any untranslated or fuzzy message, a message missing from a catalogue (run `make
    messages`), or a translation that lost a placeholder."""
    assert problems(LOCALE) == []
    assert {p.parts[-3] for p in LOCALE.glob("*/LC_MESSAGES/messages.po")} == set(i18n.SHIPPED) - {"en"}


def test_the_catalogue_check_catches_what_it_should(tmp_path: Path) -> None:
    (tmp_path / "xx" / "LC_MESSAGES").mkdir(parents=True)
    (tmp_path / "messages.pot").write_text(
        'msgid "Hello"\nmsgstr ""\n\nmsgid "Hi %(name)s"\nmsgstr ""\n\nmsgid "Bye"\nmsgstr ""\n', encoding="utf-8"
    )
    (tmp_path / "xx" / "LC_MESSAGES" / "messages.po").write_text(
        '#, fuzzy\nmsgid "Hello"\nmsgstr "Salut"\n\nmsgid "Hi %(name)s"\nmsgstr "Salut"\n', encoding="utf-8"
    )
    found = problems(tmp_path)
    assert any("fuzzy" in p and "Hello" in p for p in found)
    assert any("placeholders" in p and "Hi" in p for p in found)
    assert any("not in the catalogue" in p and "Bye" in p for p in found)


class _Text(HTMLParser):
    """The text a person sees in a piece of markup, and the visible attributes' values."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        self.found += [v for k, v in attrs if k in VISIBLE_ATTRIBUTES and v]

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.found.append(data)


def _unmarked(name: str) -> list[str]:
    source = (TEMPLATES_DIR / name).read_text(encoding="utf-8")
    tree = ENV.parse(source)
    out: list[str] = []
    marked: set[int] = set()
    for call in tree.find_all(nodes.Call):
        if isinstance(call.node, nodes.Name) and call.node.name in GETTEXT:
            marked |= {id(c) for c in call.find_all(nodes.Const)}
    # The template's markup in source order, each Jinja expression or tag a placeholder, parsed as
    # one document: markup cut by a tag (`<input{% if x %} checked{% endif %}>`) stays markup.
    markup = "\x00".join(data.data for data in tree.find_all(nodes.TemplateData))
    parser = _Text()
    parser.feed(markup)
    for text in parser.found:
        # A macro that writes attributes (` aria-invalid="true"`) is markup, not text.
        text = re.sub(r'[\w-]+="[^"]*"', " ", text.replace("\x00", " ")).strip()
        if _prose(text):
            out.append(text)
    for const in tree.find_all(nodes.Const):
        value = const.value
        if id(const) not in marked and isinstance(value, str) and _prose(value):
            out.append(value)
    return out


def _prose(text: str) -> bool:
    """Words a person reads: a phrase, or a capitalised word. A lone lowercase word is an
    identifier (a class, a field name, the product's name), not a sentence."""
    text = text.strip()
    return bool(WORDS.search(text)) and (" " in text or text[:1].isupper())


@pytest.mark.parametrize("name", PUBLIC_TEMPLATES)
def test_every_visible_string_of_a_public_template_is_marked_for_translation(name: str) -> None:
    assert _unmarked(name) == []


def test_the_template_check_finds_an_unmarked_sentence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "t.html").write_text(
        '<p title="Hover text">{{ _("Fine") }} Not fine {{ f(\'Also not\') }}</p>', encoding="utf-8"
    )
    monkeypatch.setattr(templating, "TEMPLATES_DIR", tmp_path)
    monkeypatch.setattr(__import__(__name__, fromlist=["x"]), "TEMPLATES_DIR", tmp_path)
    assert _unmarked("t.html") == ["Hover text", "Not fine", "Also not"]


@pytest.mark.parametrize(
    ("header", "asked", "remembered", "platform", "expected"),
    [
        ("fr-FR,fr;q=0.9,en;q=0.5", None, None, ["en", "fr", "de"], "fr"),
        ("pt-BR", None, None, ["en", "pt"], "pt"),
        ("de;q=0.2, nl;q=0.8", None, None, ["en", "de", "nl"], "nl"),
        ("sv, fr;q=0", None, None, ["de", "fr"], "de"),  # nothing offered: the platform's first
        ("fr", None, None, ["en", "de"], "en"),  # French is shipped but the platform does not serve it
        ("fr", "de", None, ["en", "fr", "de"], "de"),  # ?lang= wins
        ("fr", None, "it", ["en", "fr", "it"], "it"),  # then the remembered choice
        ("fr", "xx", "yy", ["en", "fr"], "fr"),  # nonsense in either is ignored
        (None, None, None, ["sv", "en"], "en"),  # a language without a catalogue is not offered
    ],
)
def test_the_page_language_is_negotiated_among_the_platform_languages(
    header: str | None, asked: str | None, remembered: str | None, platform: list[str], expected: str
) -> None:
    assert (
        i18n.choose(asked=asked, remembered=remembered, accept_language=header, platform_languages=platform) == expected
    )


def test_a_french_browser_gets_french_pages_with_html_lang_and_vary(client) -> None:
    r = client.get("/report", headers={"Accept-Language": "fr-FR,fr;q=0.9"})
    assert r.status_code == 200 and '<html lang="fr">' in r.text
    assert "Signaler un contenu" in r.text and "Report content" not in r.text
    assert r.headers["content-language"] == "fr" and "Accept-Language" in r.headers["vary"]
    # Every link of the switch names its language in itself, marked with that language.
    assert '<a href="/report?lang=de" lang="de" hreflang="de">Deutsch</a>' in r.text


def test_lang_switch_is_remembered_for_the_next_pages(client) -> None:
    r = client.get("/status?lang=de", headers={"Accept-Language": "fr"})
    assert '<html lang="de">' in r.text and "Stand einer Meldung" in r.text
    assert "staydown_lang=de" in r.headers["set-cookie"] and "SameSite=lax" in r.headers["set-cookie"]
    r = client.get("/takedown", headers={"Accept-Language": "fr"})
    assert '<html lang="de">' in r.text  # the cookie, not the browser's French
    assert '<html lang="en">' in client.get("/takedown?lang=en").text


@pytest.mark.parametrize(
    "path",
    [
        "/report",
        "/takedown",
        "/status",
        "/appeal",
        "/transparency",
        "/detection",
        "/takedown/complete",
        "/status/NOSUCH-CODE1",
        "/takedown/pictures",
        "/takedown/pictures/withdraw",
    ],
)
def test_every_public_page_and_its_errors_carry_html_lang(client, path: str) -> None:
    for lang in i18n.SHIPPED:
        r = client.get(path, headers={"Accept-Language": lang})
        assert f'<html lang="{lang}">' in r.text, (path, lang, r.status_code)


def test_an_error_page_is_in_the_readers_language(client) -> None:
    r = client.get("/status/ABCDE-12345-FGHJK-67890", headers={"Accept-Language": "es"})
    assert r.status_code == 404 and "No encontrado" in r.text and "no hay ninguna denuncia con ese código" in r.text


def test_tid1_the_on_device_page_and_the_sentences_its_script_shows_are_in_the_readers_language(client) -> None:
    """REQ TID-1, X-1: a French parent reads what leaves the device in French, and the sentences
    the script puts on the page (kept in the page, the script's {placeholders} intact) are French."""
    r = client.get("/takedown/pictures", headers={"Accept-Language": "fr"})
    assert r.status_code == 200 and '<html lang="fr">' in r.text
    assert "Ce qui quitte votre appareil, et ce qui n’en sort pas" in r.text
    assert "What leaves your device" not in r.text
    assert (
        '<span data-msg="working">Calcul des empreintes sur cet appareil : {done} sur {total} prêtes.</span>' in r.text
    )
    assert '<span data-msg="picture-alt">Image {n}, {name}</span>' in r.text


def test_tid1_the_on_device_pages_refusals_are_in_the_readers_language(client) -> None:
    """The server's refusals (a forged or damaged line of hashes, a missing signature, an unknown
    code on the withdrawal page) are written in the page's language, with their numbers filled."""
    assert '<html lang="de">' in client.get("/takedown/pictures?lang=de").text  # remembered from here on
    r = send(client, ["55 abc"], signature="")
    assert r.status_code == 422
    assert "Bild 1: Sein Fingerabdruck ist unvollständig" in r.text and "Geben Sie Ihre Unterschrift ein" in r.text
    r = client.post(
        "/takedown/pictures/withdraw",
        data={
            "csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', r.text).group(1),  # type: ignore[union-attr]
            "code": "ABCDE-12345-FGHJK-67890",
            "confirm": "on",
        },
        headers={"Accept-Language": "fr"},
    )
    assert r.status_code == 422 and '<html lang="de">' in r.text
    assert "Wir haben keinen Antrag mit dieser Vorgangsnummer gefunden" in r.text
