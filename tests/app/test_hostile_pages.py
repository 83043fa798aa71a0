"""Hostile files and huge inputs through the pages (issue 16): uploaded as a model on the Evaluate and Train pages
and as a photo on the Draw page, each is refused with a sentence naming it and no exception element; a refused
photo is not decoded again on the next rerun; a 16-bit scan is read; long link values are quoted short; anything
that escapes a page becomes a short message (and a log record), while st.stop still stops quietly."""
import io
import logging

import numpy as np
import pytest
from apptest import errors, open_page
from PIL import Image

from app import state
from smartflow_core.persist import PRETRAINED
from tests import hostile_files as hostile

pytestmark = pytest.mark.skipif(not PRETRAINED.exists(), reason="no pretrained model")


def upload_each(at, key: str):
    for name, (make, phrase) in hostile.MODELS.items():
        at.file_uploader(key=key).upload(name, make(), "application/octet-stream").run()
        assert not at.exception, (name, at.exception)
        assert not any(e.startswith("Something went wrong") for e in errors(at)), (name, errors(at))
        shown = [e for e in errors(at) if name in e]
        assert any(phrase in e for e in shown), (name, errors(at))
        assert all("Traceback" not in e and len(e) < 400 for e in shown)


def test_hostile_models_uploaded_on_the_evaluate_page_are_refused(lab):
    at = lab("evaluate.py")
    at.radio(key="ev_model").set_value("uploaded").run()
    upload_each(at, "ev_upload")
    assert at.session_state[state.LAB_UPLOADED] is None  # nothing was kept


def test_hostile_models_uploaded_on_the_train_page_are_refused(lab):
    at = lab("train.py")
    at.radio(key="tr_source").set_value("uploaded").run()
    upload_each(at, "tr_upload")


@pytest.fixture
def no_session_run(monkeypatch):
    """The Draw page without the training lab's session slot: these tests are about photos, not runs."""
    from app.draw import reading

    monkeypatch.setattr(reading, "_session_run", lambda: None)


def open_photo():
    at = open_page("draw.py")
    at.radio(key="dr_source").set_value("photo").run()
    return at


class Opens:
    """Counts the ``PIL.Image.open`` calls on the bytes ``data`` (decoding a photo starts with one; st.image's own
    opens of the thumbnails it shows are not counted)."""

    def __init__(self, monkeypatch, data: bytes):
        self.count, real = 0, Image.open

        def counting(fp, *args, **kwargs):
            if isinstance(fp, io.BytesIO) and fp.getbuffer().nbytes == len(data) and fp.getvalue() == data:
                self.count += 1
            return real(fp, *args, **kwargs)
        monkeypatch.setattr(Image, "open", counting)


def test_a_huge_photo_is_refused_once_and_not_decoded_again_on_reruns(monkeypatch, no_session_run):
    data = hostile.huge_png()
    opens = Opens(monkeypatch, data)
    at = open_photo()
    at.file_uploader(key="dr_upload").upload("huge.png", data, "image/png").run()
    assert not at.exception, at.exception
    assert any("Cannot use “huge.png”: this image is 13,000×13,000 pixels (169 megapixels)" in e
               for e in errors(at)), errors(at)
    assert not at.metric
    assert opens.count <= 1  # once, or not at all when an earlier test left it in the cache
    before = opens.count
    at.run()
    at.run()
    assert not at.exception and any("13,000×13,000" in e for e in errors(at))
    assert opens.count == before, "the refused photo was opened again on a rerun"


def test_a_photo_is_kept_downscaled_and_grey_and_not_decoded_again(monkeypatch, no_session_run):
    img = Image.fromarray(np.round(255 * (1 - hostile.seven(2800))).astype(np.uint8))  # 2800x2800, a 7
    buf = io.BytesIO()
    img.save(buf, "PNG")
    opens = Opens(monkeypatch, buf.getvalue())
    at = open_photo()
    at.file_uploader(key="dr_upload").upload("big-seven.png", buf.getvalue(), "image/png").run()
    assert not at.exception and not errors(at), errors(at)
    assert {m.label: m.value for m in at.metric}["The network reads"] == "7"
    kept = at.session_state[state.DR_PHOTO][2]
    assert isinstance(kept, np.ndarray) and kept.shape == (1024, 1024)  # the picture, not the 2800x2800 file
    before = opens.count
    at.slider(key=state.DR_THRESHOLD).set_value(50).run()
    assert not at.exception and opens.count == before


@pytest.mark.parametrize("name, data, message", [
    ("noise.png", hostile.random_bytes(), "this file is not an image that can be read"),
    ("half.png", hostile.huge_png(2000, 2000)[:5000], "this file is not an image that can be read"),
])
def test_a_broken_photo_gets_a_sentence(name, data, message, no_session_run):
    at = open_photo()
    at.file_uploader(key="dr_upload").upload(name, data, "image/png").run()
    assert not at.exception, at.exception
    assert any(f"Cannot use “{name}”: {message}" in e for e in errors(at)), errors(at)


def test_a_16_bit_scan_is_read(no_session_run):
    at = open_photo()
    at.file_uploader(key="dr_upload").upload("scan16.png", hostile.scan(3000, 60000, np.uint16), "image/png").run()
    assert not at.exception and not errors(at), errors(at)
    assert {m.label: m.value for m in at.metric}["The network reads"] == "7"


def test_a_long_link_value_is_quoted_short():
    at = open_page("conv_1d.py", {"lesson": "conv-1d", "x": "1 " * 5_000, "pad": "x" * 60_000})
    assert not at.exception
    shown = [w.value for w in at.warning if "Ignored a setting" in w.value]
    assert len(shown) == 2 and all(len(w) < 400 for w in shown), [len(w) for w in shown]
    assert any("(10,000 characters): longer than 200 characters" in w for w in shown), shown
    assert any("(60,000 characters)" in w and "is not one of" in w for w in shown), shown


def test_an_error_escaping_a_page_is_a_short_message_and_a_log_record(monkeypatch, caplog):
    from app.draw import reading

    def broken():
        raise RuntimeError("the secret internals")
    monkeypatch.setattr(reading, "pretrained", broken)
    with caplog.at_level(logging.ERROR, logger="app.main"):
        at = open_page("draw.py")
    assert not at.exception
    assert any(e.startswith("Something went wrong on this page") for e in errors(at)), errors(at)
    assert not any("secret" in e for e in errors(at))
    logged = [r for r in caplog.records if r.name == "app.main"]
    assert logged and "the secret internals" in logged[0].exc_text


def test_st_stop_still_stops_quietly(no_session_run, caplog):
    with caplog.at_level(logging.ERROR, logger="app.main"):
        at = open_page("draw.py")  # an empty canvas: the page says so and calls st.stop()
    assert any("Draw a digit on the canvas" in i.value for i in at.info)
    assert not errors(at) and not at.metric
    assert not [r for r in caplog.records if r.name == "app.main"]  # st.stop is no failure
