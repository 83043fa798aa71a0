"""The app's gettext catalogues, with Babel: ``python tools/i18n.py [extract|update|compile|all|check]``.

- ``extract``: every text marked with ``_()``, ``N_()`` or ``ngettext()`` in app/, pages/ and smartflow_core/
  (``babel.cfg``) into the template ``app/locale/smartflow.pot``;
- ``update``: merge the template into each language's ``app/locale/<locale>/LC_MESSAGES/smartflow.po`` (new texts
  arrive untranslated, texts gone from the code are dropped);
- ``compile``: the ``.po`` files to the ``.mo`` files the app reads (committed beside them; a test checks that
  they match);
- ``all`` (the default): the three in order; ``check``: exit 1 when the template is out of date with the code or
  a text has no translation (what ``tests/app/test_i18n.py`` asserts).

Translate in the ``.po`` file following ``docs/glossary_zh.md``, then run ``compile``.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from babel.messages.frontend import CommandLineInterface
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[1]
LOCALE = ROOT / "app" / "locale"
POT = LOCALE / "smartflow.pot"
DOMAIN = "smartflow"
LOCALES = ("zh_CN",)
KEYWORDS = ("_", "N_", "ngettext:1,2")


def babel(*args: str) -> None:
    CommandLineInterface().run(["pybabel", "-q", *args])


def extract(out: Path = POT) -> None:
    """The template, with file names relative to the repository (babel.cfg's patterns are relative to ".")."""
    keywords = [a for k in KEYWORDS for a in ("-k", k)]
    here = os.getcwd()
    os.chdir(ROOT)
    try:
        babel("extract", "-F", "babel.cfg", *keywords, "--no-default-keywords", "--add-location", "file",
              "--sort-by-file", "--omit-header", "-o", str(out), ".")  # babel.cfg picks the folders
    finally:
        os.chdir(here)


def update() -> None:
    for locale in LOCALES:
        po = LOCALE / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
        if po.exists():
            babel("update", "-i", str(POT), "-d", str(LOCALE), "-D", DOMAIN, "-l", locale, "--no-fuzzy-matching",
                  "--ignore-obsolete", "--width", "120")
        else:
            babel("init", "-i", str(POT), "-d", str(LOCALE), "-D", DOMAIN, "-l", locale)


def mo_path(locale: str) -> Path:
    return LOCALE / locale / "LC_MESSAGES" / f"{DOMAIN}.mo"


def compile_() -> None:
    """Each ``.po`` to its ``.mo`` with Babel's ``write_mo`` (fuzzy entries left out). Not ``pybabel compile``: its
    check takes "{:.1f} % right" for a %-format and refuses a translation that moves the "%"; the app formats
    with ``str.format`` only, and tests/app/test_i18n.py checks that every ``{}`` field agrees."""
    for locale in LOCALES:
        with open(mo_path(locale), "wb") as f:
            write_mo(f, read(LOCALE / locale / "LC_MESSAGES" / f"{DOMAIN}.po"))


def read(path: Path):
    with open(path, "rb") as f:
        return read_po(f)


def problems() -> list[str]:
    """What ``check`` reports: texts in the code but not the template (or the reverse), texts with no
    translation."""
    import tempfile
    found = []
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / "fresh.pot"
        extract(fresh)
        now = {m.id for m in read(fresh) if m.id}
    stored = {m.id for m in read(POT) if m.id}
    found += [f"not in the template (run extract): {i!r}" for i in sorted(now - stored, key=str)]
    found += [f"in the template, gone from the code: {i!r}" for i in sorted(stored - now, key=str)]
    for locale in LOCALES:
        catalog = read(LOCALE / locale / "LC_MESSAGES" / f"{DOMAIN}.po")
        for m in catalog:
            if m.id and (not m.string or (isinstance(m.string, tuple) and not all(m.string)) or m.fuzzy):
                found.append(f"{locale}: no translation of {m.id!r}")
    return found


def main(argv: list[str]) -> int:
    what = argv[1] if len(argv) > 1 else "all"
    if what in ("extract", "all"):
        extract()
    if what in ("update", "all"):
        update()
    if what in ("compile", "all"):
        compile_()
    if what == "check":
        found = problems()
        print("\n".join(found) or "the catalogues are complete")
        return 1 if found else 0
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
