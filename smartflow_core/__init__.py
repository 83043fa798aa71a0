"""smartflow_core: the NumPy deep-learning library of the chapter on convolutional networks.

No Streamlit, no printing, no global random state. See README.md for a tour.
"""
from smartflow_core.book import book_mode, is_book_mode

__version__ = "0.1.0"
__all__ = ["book_mode", "is_book_mode", "__version__"]
