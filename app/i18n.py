"""``_()`` in the gettext manner: pages wrap every sentence a learner reads in ``_("English text")``.

The English text is the key. English ships first; a second language (简体中文, the chapter's readers) is a
catalogue away: compile ``app/locale/<lang>/LC_MESSAGES/smartflow.mo`` and start the app with
``SMARTFLOW_LANG=<lang>``. Without a catalogue every text comes back as written.
"""
from __future__ import annotations

import gettext
import os
from pathlib import Path

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "smartflow"


def _load(lang: str | None) -> gettext.NullTranslations:
    return gettext.translation(DOMAIN, LOCALE_DIR, languages=[lang] if lang else None, fallback=True)


_TRANSLATION = _load(os.environ.get("SMARTFLOW_LANG"))


def _(text: str) -> str:
    return _TRANSLATION.gettext(text)
