"""``_()`` in the gettext manner: pages wrap every sentence a learner reads in ``_("English text")``.

The English text is the key. Each session has its own language (English or 简体中文, the chapter's readers):
:func:`choose` picks it at the top of every script run, from ``?lang=zh`` in the address, else the session's
earlier choice, else the browser's preferred language, and :func:`selector` draws the sidebar's switch. ``_()``
looks up the running session's language; outside a Streamlit script run (the library, training worker processes,
a plain ``python -c``) it is English.

The catalogues are gettext ``.po`` files under ``app/locale/<lang>/LC_MESSAGES/smartflow.po``, extracted and
compiled with Babel (``python tools/i18n.py``, see its docstring); the set-up (``./run.sh``) compiles the ``.mo``
files. Without a compiled catalogue every text comes back as written.

Markers that Babel extracts: ``_()``, ``ngettext(singular, plural, n)``, and ``N_()``, a no-op for texts written in
a table and translated where they are shown (``smartflow_core`` has its own ``N_`` for the same purpose, so the
library never imports the app or Streamlit).
"""
from __future__ import annotations

import functools
import gettext
import re
import sys
from pathlib import Path

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "smartflow"
LANGUAGES = {"en": "English", "zh": "简体中文"}  # the code in ?lang= -> the name in the selector
CATALOGUE = {"en": None, "zh": "zh_CN"}  # the code -> the catalogue's folder under app/locale (None: the keys)
BABEL_LOCALE = {"en": "en", "zh": "zh_CN"}
DEFAULT = "en"
LANG = "i18n_lang"  # session state: this session's language code
EXPLICIT = "i18n_explicit"  # session state: True once the language came from a link or the selector
PICK = "i18n_pick"  # the selector widget's key
OUTSIDE = DEFAULT  # the language outside a script run (a test may set it: AppTest formats options in its own thread)


@functools.cache
def translation(lang: str) -> gettext.NullTranslations:
    """The compiled catalogue of ``lang`` (a code of :data:`LANGUAGES`), loaded once per process."""
    folder = CATALOGUE.get(lang)
    if folder is None:
        return gettext.NullTranslations()
    return gettext.translation(DOMAIN, LOCALE_DIR, languages=[folder], fallback=True)


def _session_state():
    """The running session's state, or None outside a Streamlit script run. Streamlit is not imported here: a
    process that never imported it (a training worker) is never inside a run."""
    if "streamlit.runtime.scriptrunner_utils.script_run_context" not in sys.modules:
        return None
    from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx
    ctx = get_script_run_ctx(suppress_warning=True)
    return None if ctx is None else ctx.session_state


def language() -> str:
    """This session's language code; English outside a script run."""
    session = _session_state()
    if session is None:
        return OUTSIDE
    try:
        return session[LANG] if LANG in session else DEFAULT
    except Exception:  # a state being torn down
        return DEFAULT


def _(text: str) -> str:
    return translation(language()).gettext(text)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translation(language()).ngettext(singular, plural, n)


class Later(str):
    """A text translated when it is shown, not when it is written: for ``st.cache_data(show_spinner=...)``, fixed
    when the module loads, which Streamlit turns into text (``str()``) in the script run that shows the spinner."""

    def __str__(self) -> str:
        return _(str.__str__(self))


def N_(text: str) -> str:
    """Marks a text for the catalogue where it is written (a table of labels); ``_()`` translates it where it is
    shown."""
    return text


def num(value, digits: int | None = None) -> str:
    """A figure as this session's locale writes it (Babel's ``format_decimal``): ``2,000`` in English and in
    Chinese alike, ``0.25``; ``digits`` fixes the number of decimals."""
    from babel.numbers import format_decimal
    fmt = None if digits is None else "#,##0." + "0" * digits if digits else "#,##0"
    return format_decimal(value, format=fmt, locale=BABEL_LOCALE[language()])


# ------------------------------------------------------------------------------------------ library messages


@functools.cache
def _templates(lang: str) -> tuple[tuple[re.Pattern, str], ...]:
    """The catalogue's templates with named fields (``"{k} is larger than {n}"``) as patterns that read a filled-in
    English sentence back, each with its translation."""
    catalogue = getattr(translation(lang), "_catalog", {})
    found = []
    for msgid, msgstr in catalogue.items():
        if not isinstance(msgid, str) or "{" not in msgid or not msgstr or msgstr == msgid:
            continue
        parts = re.split(r"\{([A-Za-z_]\w*)\}", msgid)
        if len(parts) < 3:
            continue
        pattern = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>.+?)" for i, p in enumerate(parts))
        try:
            found.append((re.compile(pattern + r"\Z", re.S), msgstr))
        except re.error:  # a field named twice
            continue
    return tuple(sorted(found, key=lambda t: -len(t[0].pattern)))


# The library's sentences that a page shows (a ValueError from smartflow_core, in its words: the library is
# English and never imports the app); :func:`message` reads the values back out of them. A sentence whose wording
# changes in the library is shown in English until this list follows it.
LIBRARY = (
    N_("kernel of size {k} is larger than the padded input of size {n}"),
    N_("stride must be at least 1, got {stride}"),
    N_("padding must be 0 or more, got {pad}"),
    N_("the chapter's backward formulas need an odd kernel, got {n} values"),
    N_("the {target} has no element {index} (it has {size})"),
    N_("the target has {t} values, the output has {n} per observation"),
    N_("the nudge must not be 0"),
    N_("a {size}x{size2} pool does not fit a {h}x{w} input"),
    N_("a {kh}x{kw} kernel does not fit a {h}x{w} input padded by {pads}"),
    N_("the kernel must be square, got {rows} rows and {cols} columns"),
    N_("input"),
    N_("kernel"),
)


def message(error) -> str:
    """A sentence from the library (a ``ValueError`` a page shows) in this session's language: its text as a
    whole when the catalogue has it, else matched against the catalogue's templates with named fields (the
    library marks them with ``N_`` and fills them with ``.format``); else as it is."""
    text = str(error)
    lang = language()
    if lang == DEFAULT:
        return text
    whole = translation(lang).gettext(text)
    if whole != text:
        return whole
    for head, sep, tail in (text.partition(": "),):  # "'1,2': the reason": a prefix the library added
        if sep and not re.search(r"[A-Za-z]{3}", head.strip("'\"")):
            return head + sep + message(tail)
    for i in (m.end() for m in re.finditer(r"[.?!] ", text)):  # two sentences of the catalogue, joined
        head, tail = text[:i], text[i:]
        if translation(lang).gettext(head) != head and message(tail) != tail:
            return translation(lang).gettext(head) + message(tail)
    for pattern, msgstr in _templates(lang):
        m = pattern.match(text)
        if m:
            try:
                return msgstr.format(**{k: message(v) for k, v in m.groupdict().items()})
            except (KeyError, IndexError, ValueError):
                return text
    return text


# ------------------------------------------------------------------------------------------ choosing the language


def parse(code: str | None) -> str | None:
    """``zh``, ``zh-CN``, ``zh_Hans``... -> ``zh``; ``en-GB`` -> ``en``; anything else None."""
    if not code:
        return None
    head = re.split(r"[-_]", str(code).strip().lower(), maxsplit=1)[0]
    return head if head in LANGUAGES else None


def preferred(accept_language: str | None) -> str | None:
    """The first language of an ``Accept-Language`` header that the app has (``zh-CN,zh;q=0.9,en;q=0.8``)."""
    ranked = []
    for i, part in enumerate((accept_language or "").split(",")):
        tag, _sep, q = part.strip().partition(";q=")
        try:
            weight = float(q) if q else 1.0
        except ValueError:
            weight = 0.0
        if parse(tag) and weight > 0:
            ranked.append((-weight, i, parse(tag)))
    return min(ranked)[2] if ranked else None


def _browser() -> str | None:
    import streamlit as st
    try:
        found = parse(getattr(st.context, "locale", None))
        return found or preferred(st.context.headers.get("Accept-Language"))
    except Exception:  # no browser behind this run (AppTest)
        return None


def choose() -> str:
    """Settle this run's language, before anything is drawn: ``?lang=`` in the address wins (a shared link), then
    the session's choice (the selector, an earlier page), then the browser's preferred language on a first
    visit, then English."""
    import streamlit as st
    from_link = parse(st.query_params.get("lang"))
    if from_link:
        if st.session_state.get(LANG) != from_link:
            st.session_state[PICK] = from_link  # the selector follows the link
        st.session_state[LANG], st.session_state[EXPLICIT] = from_link, True
    elif LANG not in st.session_state:
        st.session_state[LANG] = _browser() or DEFAULT
    if st.session_state.get(PICK) not in LANGUAGES:
        st.session_state[PICK] = st.session_state[LANG]
    return st.session_state[LANG]


def params() -> dict[str, str]:
    """The address's share of the language (``links.kept()``): ``lang=zh`` whenever the session reads Chinese or
    chose its language by hand, so a shared link opens in the same language; nothing for an English reader who
    never chose (the English links stay as they were)."""
    session = _session_state()
    if session is None or LANG not in session:
        return {}
    lang, explicit = session[LANG], EXPLICIT in session and session[EXPLICIT]
    return {"lang": lang} if lang != DEFAULT or explicit else {}


def _picked() -> None:
    import streamlit as st
    st.session_state[LANG], st.session_state[EXPLICIT] = st.session_state[PICK], True
    st.query_params["lang"] = st.session_state[PICK]


def selector() -> None:
    """The sidebar's language switch. Changing it reruns the same page with the same settings (they live in the
    session) and puts ``lang=`` in the address."""
    import streamlit as st
    st.radio("Language · 语言", tuple(LANGUAGES), key=PICK, format_func=LANGUAGES.get, horizontal=True,
             on_change=_picked, label_visibility="collapsed")
    wanted = params().get("lang")
    if wanted and st.query_params.get("lang") != wanted:  # pages that write no settings keep it too
        st.query_params["lang"] = wanted
