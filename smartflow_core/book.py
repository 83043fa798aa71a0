"""Book mode: reproduce the book's fast convolution, bugs included.

The book's batch-matmul convolution had two bugs in its backward pass: the filter gradient paired rows of different
examples when the batch held more than one, and the input gradient did not flip the kernel. The numbers the chapter
prints come from them. Correct maths is the default; ``Conv2DLayer(book=True)`` or, around code that builds its
layers (the chapter's own cells), ``with book_mode():`` switches the bugs back on.
"""
from __future__ import annotations

import contextlib
import contextvars

_BOOK = contextvars.ContextVar("smartflow_book_mode", default=False)


@contextlib.contextmanager
def book_mode(enabled: bool = True):
    """Layers *constructed* inside this block default to the book's convolution gradients."""
    token = _BOOK.set(enabled)
    try:
        yield
    finally:
        _BOOK.reset(token)


def is_book_mode() -> bool:
    return _BOOK.get()
