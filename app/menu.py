"""The page list, in the menu's order: read by the entry script (:mod:`app.main`) and the teacher's page."""
from pathlib import Path

from app.i18n import N_

PAGES = Path(__file__).resolve().parents[1] / "pages"

# The page list: (section, script in pages/, title, icon, url path). Add a lesson or lab with one row;
# the first row is the default page. Sections with no rows yet are left out of the menu.
SECTIONS = (N_("Start"), N_("Forward pass"), N_("Backward pass"), N_("Labs"), N_("Teach"))
PAGE_TABLE = (
    (N_("Start"), "home.py", N_("Home"), ":material/home:", "start"),  # the default page: served at "/"
    (N_("Forward pass"), "conv_1d.py", N_("1D convolution"), ":material/linear_scale:", "conv-1d"),
    (N_("Forward pass"), "conv_2d.py", N_("2D convolution on images"), ":material/grid_on:", "conv-2d"),
    (N_("Forward pass"), "multichannel.py", N_("Multichannel convolution"), ":material/layers:", "multichannel"),
    (N_("Forward pass"), "pooling.py", N_("Stride, pooling and flatten"), ":material/compress:", "pooling"),
    (N_("Backward pass"), "perturb.py", N_("Nudge and watch"), ":material/tune:", "perturb"),
    (N_("Backward pass"), "grad_1d.py", N_("1D input gradient"), ":material/undo:", "grad-1d"),
    (N_("Backward pass"), "grad_1d_filter.py", N_("1D filter gradient"), ":material/functions:", "filter-grad-1d"),
    (N_("Backward pass"), "grad_2d.py", N_("2D and multichannel gradients"), ":material/grid_view:", "grad-2d"),
    (N_("Backward pass"), "book_bug.py", N_("The book's bug"), ":material/bug_report:", "book-bug"),
    (N_("Labs"), "train.py", N_("Train a CNN"), ":material/play_arrow:", "train"),
    (N_("Labs"), "evaluate.py", N_("Evaluate and look inside"), ":material/visibility:", "evaluate"),
    (N_("Labs"), "draw.py", N_("Draw a digit"), ":material/draw:", "draw"),
    (N_("Teach"), "lesson_link.py", N_("Make a lesson link"), ":material/qr_code_2:", "lesson-link"),
)


def title(url_path: str) -> str:
    """The English title of the page served at ``url_path``."""
    return next(row[2] for row in PAGE_TABLE if row[4] == url_path)
