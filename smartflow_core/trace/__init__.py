"""Step-by-step records for the lessons: for each output cell the window, the products, the running sum; the same
for pooling, for what reaches each output, for flatten, and for each gradient cell.

Each record is built with plain Python loops in the same order as the chapter's loops in
:mod:`smartflow_core.reference`, so every running sum ends on exactly the number the library computes; whole maps
are computed at once in that same order. Pages render these records and compute nothing themselves.

* :mod:`.forward`: 1D, 2D and multichannel convolution, the output-size arithmetic;
* :mod:`.pool`: pooling, reach (stride versus pooling) and flatten;
* :mod:`.backward`: the perturbation experiment and the 1D input and filter gradients;
* :mod:`.backward_2d`: the 2D and multichannel gradients, the numerical check and the book's bug;
* :mod:`._common`: the helpers they share.

Every public name is also importable from here: ``from smartflow_core.trace import trace_conv_2d``.
"""
from smartflow_core.trace._common import array_rel_error, cosine, rel_error
from smartflow_core.trace.backward import (
    ONES,
    TARGETS,
    UPSTREAMS,
    InputGrad1DTrace,
    InputTerm,
    ParamGrad1DTrace,
    ParamTerm,
    Perturbation1D,
    Upstream,
    check_1d,
    perturb_1d,
    trace_input_grad_1d,
    trace_param_grad_1d,
)
from smartflow_core.trace.backward_2d import (
    CHAPTER_LOG,
    BookComparison,
    CellSum,
    Grad2DTrace,
    GradCheck,
    PairRow,
    Term2D,
    book_cosines_by_batch,
    book_pairing,
    compare_book,
    dilate,
    grad_check,
    trace_grad_2d,
)
from smartflow_core.trace.forward import (
    Conv1DTrace,
    Conv2DTrace,
    MultiStep,
    MultiTrace,
    OutputSize,
    Step1D,
    Step2D,
    loop_order_conv,
    resolve_pad,
    trace_conv_1d,
    trace_conv_2d,
    trace_multichannel,
)
from smartflow_core.trace.pool import (
    POOL_MODES,
    FlattenShapes,
    PoolStep,
    PoolTrace,
    StrideVsPool,
    conv_reach,
    pool_reach,
    stride_vs_pool,
    trace_pool,
)

__all__ = [
    "array_rel_error", "book_cosines_by_batch", "book_pairing", "BookComparison", "CellSum", "CHAPTER_LOG",
    "check_1d", "compare_book", "Conv1DTrace", "Conv2DTrace", "conv_reach", "cosine", "dilate", "FlattenShapes",
    "Grad2DTrace", "grad_check", "GradCheck", "InputGrad1DTrace", "InputTerm", "loop_order_conv", "MultiStep",
    "MultiTrace", "ONES", "OutputSize", "PairRow", "ParamGrad1DTrace", "ParamTerm", "perturb_1d", "Perturbation1D",
    "POOL_MODES", "pool_reach", "PoolStep", "PoolTrace", "rel_error", "resolve_pad", "Step1D", "Step2D",
    "stride_vs_pool", "StrideVsPool", "TARGETS", "Term2D", "trace_conv_1d", "trace_conv_2d", "trace_grad_2d",
    "trace_input_grad_1d", "trace_multichannel", "trace_param_grad_1d", "trace_pool", "Upstream", "UPSTREAMS",
]
