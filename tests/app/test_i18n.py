"""The Simplified Chinese catalogue and the per-session language: every marked text translated, the template up to
date with the code, the ``{}`` fields of each translation the same as its English, every page free of English
sentences in Chinese mode, and the English app as it was."""
import gettext
import io
import json
import re
import string
import sys

import pytest
from apptest import ROOT, open_page
from babel.messages.mofile import write_mo
from google.protobuf.json_format import MessageToDict

from app import i18n

sys.path.insert(0, str(ROOT / "tools"))
import i18n as catalogues  # tools/i18n.py: extract, update, compile, check

PAGES = sorted(p.name for p in (ROOT / "pages").glob("*.py"))
PO = ROOT / "app" / "locale" / "zh_CN" / "LC_MESSAGES" / "smartflow.po"


def zh_catalogue():
    return catalogues.read(PO)


# ---------------------------------------------------------------------------------------------- the catalogue


def test_every_marked_text_has_a_chinese_translation_and_the_template_is_up_to_date():
    """Fails when a page gains a ``_()`` text nobody translated: run ``python tools/i18n.py``, translate the
    new entries in the .po (docs/glossary_zh.md), and run it again."""
    assert catalogues.problems() == []


def fields(text: str) -> list[tuple[str, str, str]]:
    """The ``str.format`` fields of ``text``: (name or position, format spec, conversion), in sorted order, so
    that a translation may reorder them with ``{1}`` / ``{0}``."""
    found, auto = [], 0
    for _literal, name, spec, conversion in string.Formatter().parse(text):
        if name is None:
            continue
        if name == "":
            name, auto = str(auto), auto + 1
        found.append((name, spec or "", conversion or ""))
    return sorted(found)


def test_placeholders_agree_between_english_and_chinese():
    wrong = []
    for m in zh_catalogue():
        if not m.id:
            continue
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        strs = m.string if isinstance(m.string, tuple) else (m.string,)
        for s in strs:
            try:
                if fields(s) != fields(ids[-1]) or re.findall(r"%[sd]", s) != re.findall(r"%[sd]", ids[-1]):
                    wrong.append((ids[0], s))
            except ValueError as exc:  # an unbalanced brace
                wrong.append((ids[0], f"{s} ({exc})"))
    assert wrong == []


def test_the_placeholder_check_can_fail():
    assert fields("{} of {:,} digits") != fields("{} 个数字")
    assert fields("{:.1f} % on {:,}") == fields("在 {1:,} 个上 {0:.1f} %")
    assert fields("{n} cells") != fields("{m} 个单元")


def test_compiled_catalogue_matches_its_source():
    """The .mo is committed beside the .po (the app reads it without a build step); it must be the .po compiled:
    ``python tools/i18n.py compile`` after every change of the .po."""
    fresh = io.BytesIO()
    write_mo(fresh, zh_catalogue())
    fresh.seek(0)
    with open(catalogues.mo_path("zh_CN"), "rb") as f:
        committed = gettext.GNUTranslations(f)._catalog
    assert gettext.GNUTranslations(fresh)._catalog == committed


def test_the_glossary_terms_are_the_catalogue_terms():
    """docs/glossary_zh.md's terms are the ones the catalogue uses: each English term's translation appears
    wherever the term does, in most entries (a sentence may say it another way)."""
    glossary = (ROOT / "docs" / "glossary_zh.md").read_text()
    rows = re.findall(r"^\| ([a-z][a-z -]+) \| ([^|]+?) \|", glossary, re.M)
    assert len(rows) >= 15
    catalogue = [(m.id, m.string) for m in zh_catalogue() if isinstance(m.id, str) and m.id]
    for english, chinese in rows:
        with_term = [s for i, s in catalogue if re.search(rf"\b{english}s?\b", i, re.I) and "`" not in i]
        if len(with_term) >= 5:
            used = sum(any(c.strip() in s for c in chinese.split("/")) for s in with_term)
            assert used >= 0.6 * len(with_term), (english, chinese, used, len(with_term))


# ---------------------------------------------------------------------------------------------- outside a session


def test_outside_a_session_everything_is_english():
    assert i18n.language() == "en"
    assert i18n._("Stride") == "Stride"
    assert i18n.message("the nudge must not be 0") == "the nudge must not be 0"


def test_a_spinners_text_is_translated_when_it_is_shown(monkeypatch):
    """``st.cache_data(show_spinner=...)`` is fixed when the module loads; Streamlit makes it text with ``str()``
    in the run that shows the spinner, and that is when ``Later`` translates it."""
    fixed = [str(p.relative_to(ROOT)) for p in (ROOT / "app").rglob("*.py") if 'show_spinner="' in p.read_text()]
    assert fixed == []  # every spinner's text goes through Later
    spinner = i18n.Later("Convolving...")
    assert str(spinner) == "Convolving..."
    monkeypatch.setattr(i18n, "OUTSIDE", "zh")
    assert str(spinner) == "正在卷积……"


def test_the_browser_language_is_read():
    assert i18n.preferred("zh-CN,zh;q=0.9,en;q=0.8") == "zh"
    assert i18n.preferred("en-GB,en;q=0.9,zh;q=0.5") == "en"
    assert i18n.preferred("fr-FR,fr;q=0.9,zh-TW;q=0.8") == "zh"
    assert i18n.preferred("fr") is None and i18n.preferred("") is None and i18n.preferred(None) is None
    assert i18n.parse("zh_Hans") == "zh" and i18n.parse("EN-us") == "en" and i18n.parse("de") is None


def test_numbers_follow_the_locale():
    from babel.numbers import format_decimal
    assert format_decimal(60000, locale="zh_CN") == "60,000" == format_decimal(60000, locale="en")  # one grouping


# ---------------------------------------------------------------------------------------------- the pages

# names and code a Chinese page keeps in Latin letters: datasets, libraries, functions, file types, keys
ALLOWED = {
    "mnist", "numpy", "smartflow", "smartflow_core", "cnn", "lab", "softmax", "relu", "tanh", "sigmoid", "linear",
    "sgd", "dropout", "float32", "float64", "png", "jpeg", "webp", "gif", "bmp", "tiff", "pillow", "pickle", "npz",
    "home", "end", "space", "nan", "rgb", "gb", "same", "glorot", "he", "normal", "standard", "none", "conv2d",
    "english", "language", "qr", "max", "avg", "book", "true", "numeric", "ms", "px", "mb", "pdf", "uniform",
    "kernel", "batch", "out", "target", "param", "flipped", "rms", "log",
}
# where the protos keep texts a learner reads (Plotly figures and the stepper's data are JSON inside)
TEXT_KEYS = {"body", "label", "help", "options", "placeholder", "caption", "text", "title", "name", "hovertemplate",
             "note", "value", "rawValue", "default", "ticktext", "legend", "labels"}


def texts(node, key=""):
    """(key, text) of every string under the element tree's protos, Plotly specs and component data included."""
    if hasattr(node, "proto") and node.proto is not None:
        yield from texts(MessageToDict(node.proto), key)
    if hasattr(node, "children"):
        for child in node.children.values():
            yield from texts(child, key)
    if isinstance(node, dict):
        for k, v in node.items():
            if isinstance(v, str) and k in ("spec", "json"):
                try:
                    v = json.loads(v)
                except ValueError:
                    continue
            yield from texts(v, k if k not in ("spec", "json", "data", "layout", "steps") else key)
    elif isinstance(node, list):
        for v in node:
            yield from texts(v, key)
    elif isinstance(node, str) and key in TEXT_KEYS:
        yield key, node


CODE = re.compile(r"`[^`]*`|\$\$.*?\$\$|\$[^$]*\$|https?://\S+|<[^>]+>|%\{[^}]*\}|\{[^}]*\}|\S*[_\[\](){}=./\\:#]\S*"
                  r"|\b[A-Za-z]\b|\b\w*\d\w*\b|\b\w*[A-Z]\w*[A-Z]\w*\b")  # names: MNIST, ReLU, float32, 5x5


def english(text: str) -> list[str]:
    """The English words left in ``text`` once code, formulas, identifiers and names are set aside."""
    words = re.findall(r"[A-Za-z]{2,}(?:['’][a-z]+)?", CODE.sub(" ", text))
    return [w for w in words if w.lower() not in ALLOWED]


def table_texts(at):
    """A dataframe's column headers (as its column_config labels them) and its text cells."""
    for table in at.dataframe:
        config = json.loads(table.proto.columns or "{}")
        frame = table.value
        for name in frame.columns:
            yield "column", str((config.get(str(name)) or {}).get("label") or name)
        for value in frame.to_numpy().ravel():
            if isinstance(value, str):
                yield "cell", value


def english_sentences(at) -> list[str]:
    found = []
    for key, text in [*texts(at._tree), *table_texts(at)]:
        left = english(text)
        if left and (len(left) >= 2 or not re.search(r"[\u4e00-\u9fff]", text)):
            found.append(f"[{key}] {text[:120]!r}: {left}")
    return sorted(set(found))


def test_the_english_check_can_fail():
    assert english("Stride and padding") == ["Stride", "and", "padding"]
    assert english("步幅为 `conv_1d(x, w)`，MNIST 与 NumPy，dL/dout = 2·out / batch") == []


@pytest.mark.parametrize("page", PAGES)
def test_page_in_chinese_shows_no_english_sentence(page):
    at = open_page(page, {"lang": "zh"})
    assert not at.exception
    assert english_sentences(at) == []
    assert at.title and re.search(r"[\u4e00-\u9fff]", at.title[0].value), at.title[0].value


def test_the_page_check_finds_english_on_an_english_page():
    """The negative control of the page scan: the same page in English is full of English sentences."""
    found = english_sentences(open_page("train.py"))
    assert any("Convolution block" in f for f in found) and any("[column]" in f for f in found)


def test_the_english_page_is_unchanged():
    at = open_page("conv_1d.py")
    assert at.title[0].value == "1D convolution"
    assert "lang" not in at.query_params
    assert i18n.LANG in at.session_state and at.session_state[i18n.LANG] == "en"


def test_lang_in_the_link_survives_page_changes_and_is_in_every_shared_link():
    at = open_page("home.py", {"lang": "zh"})
    assert at.title[0].value == "SmartFlow CNN 实验室"
    at.switch_page("../pages/conv_1d.py").run()
    assert at.title[0].value == "一维卷积"
    assert at.query_params.get("lang") in ("zh", ["zh"])  # links.kept(): the lesson's address keeps it
    at.switch_page("../pages/pooling.py").run()
    assert at.title[0].value == "步幅、池化与展平"


def test_the_selector_switches_and_keeps_page_and_settings():
    at = open_page("conv_1d.py")
    at.number_input(key="c1_stride").set_value(2).run()
    at.radio(key=i18n.PICK).set_value("zh").run()
    assert at.title[0].value == "一维卷积"
    assert at.number_input(key="c1_stride").value == 2  # the setting stayed
    assert at.query_params.get("lang") in ("zh", ["zh"])
    assert at.query_params.get("s") in ("2", ["2"])
    at.radio(key=i18n.PICK).set_value("en").run()
    assert at.title[0].value == "1D convolution"
    assert at.query_params.get("lang") in ("en", ["en"])  # chosen by hand: the link says so


def test_a_library_error_is_shown_in_chinese():
    at = open_page("conv_1d.py", {"lang": "zh", "pad": "none"})
    at.text_input(key="c1_kernel").set_value("1 1 1 1 1 1 1").run()
    shown = " ".join(e.value for e in at.error)
    assert "大小为 7 的卷积核大于填充后大小为 5 的输入" in shown, shown


@pytest.fixture
def zh_outside(monkeypatch):
    """AppTest formats a selectbox's options with its ``format_func`` in the test's thread, outside the script
    run, where ``_()`` is English: the test thread reads Chinese too, as the browser's session would."""
    monkeypatch.setattr(i18n, "OUTSIDE", "zh")


@pytest.mark.parametrize("page", ["conv_1d.py", "pooling.py", "grad_1d_filter.py"])
def test_checkpoint_questions_hints_and_answers_in_chinese(page, zh_outside):
    """Wrong answers to every question: the hint (two sentences of the library joined, for some) and the worked
    answer, in Chinese."""
    at = open_page(page, {"lang": "zh", "q": "7"})
    boxes = [t for t in at.text_input if (t.key or "").startswith("cp_ans_")]
    assert boxes
    for n in range(len(boxes)):
        [t for t in at.text_input if (t.key or "").startswith("cp_ans_")][n].input("12345")
        [b for b in at.button if (b.key or "").startswith("FormSubmitter:cp_form_")][n].click()
        at.run()
    for b in [b for b in at.button if (b.key or "").startswith("cp_showbtn_")]:
        b.click()
        at.run()
    hints = [w.value for w in at.warning if "提示" in w.value]
    assert len(hints) == len(boxes), [w.value for w in at.warning]
    assert [i.value for i in at.info if i.value.startswith("解答")]
    assert english_sentences(at) == []
