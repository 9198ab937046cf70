"""Check the shipped catalogues: every message translated, none fuzzy, the placeholders kept.

Run by `make messages` after merging new messages, and by the test suite; exits 1 and lists every
problem, so a language is never shipped half-done (English would show through on its pages)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from babel.messages.pofile import read_po

# Both kinds of placeholder: %(name)s (the pages, e-mails) and {name} (policy notices).
PLACEHOLDER = re.compile(r"%\([a-z_]+\)s|\{[a-z_]+\}")


def problems(locale_dir: Path) -> list[str]:
    """What is wrong with the catalogues under `locale_dir`, one line each: every domain that has
    a template (`messages.pot`, the public pages; `console.pot`, the console), in every language
    that has a catalogue of it."""
    out: list[str] = []
    for pot in sorted(locale_dir.glob("*.pot")):
        out += _domain_problems(locale_dir, pot.stem)
    return out


def _domain_problems(locale_dir: Path, domain: str) -> list[str]:
    with (locale_dir / f"{domain}.pot").open("rb") as source:
        template = read_po(source)
    wanted = {m.id for m in template if m.id}
    out: list[str] = []
    for po_path in sorted(locale_dir.glob(f"*/LC_MESSAGES/{domain}.po")):
        lang = po_path.parts[-3] if domain == "messages" else f"{po_path.parts[-3]} ({domain})"
        with po_path.open("rb") as source:
            catalog = read_po(source, locale=po_path.parts[-3])
        have = {m.id: m for m in catalog if m.id}
        for msgid in sorted(wanted - set(have), key=str):
            out.append(f"{lang}: not in the catalogue (run make messages): {msgid!r}")
        for msgid, message in have.items():
            string = message.string
            strings = tuple(string) if isinstance(string, (tuple, list)) else (string,)
            source_text = msgid if isinstance(msgid, str) else msgid[-1]
            if message.fuzzy:
                out.append(f"{lang}: fuzzy, check and clear the flag: {source_text!r}")
            elif not all(strings):
                out.append(f"{lang}: untranslated: {source_text!r}")
            elif any(set(PLACEHOLDER.findall(s)) != set(PLACEHOLDER.findall(source_text)) for s in strings[-1:] if s):
                out.append(f"{lang}: placeholders differ from the English: {source_text!r}")
            if msgid not in wanted:
                out.append(f"{lang}: obsolete (no longer in the code): {source_text!r}")
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    locale_dir = Path(args[0]) if args else Path(__file__).parent / "locale"
    found = problems(locale_dir)
    for line in found:
        print(line)
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
