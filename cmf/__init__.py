"""cmf: matrix factorization and completion by stochastic gradient descent.

The estimator is :class:`MatrixFactorization`; its SGD epoch runs in C.
:class:`BPR` ranks items from implicit feedback (interactions without ratings).
:class:`BayesianMatrixFactorization` averages over the posterior by Gibbs
sampling (its row draws in C).
Top-N recommendation, similar items and users and fold-in of new users are
functions of a fitted model in :mod:`cmf.recommend` (and methods of it).
"""

import importlib.util as _importlib_util
import os as _os

# From the root of a clone, ``cmf/`` is the source folder, which shadows the
# installed package and has no compiled extension unless built in place.
# Say so in one line instead of failing later with a circular-import error
# (``python -m cmf`` prints an ImportError naming the package on one line).
if _importlib_util.find_spec("cmf._kernels") is None:  # pragma: no cover - tested in a subprocess
    raise ImportError(
        f"cmf's compiled extension is not built in the source tree "
        f"{_os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))!r}, whose cmf/ folder "
        "shadows any installed cmf: run `pip install -e .` there, or run from another directory",
        name="cmf",
    )

from cmf._include import get_include  # noqa: E402
from cmf._version import __version__  # noqa: E402
from cmf.bpr import BPR  # noqa: E402
from cmf.exceptions import ConvergenceWarning, DivergenceError, DuplicateRatingsWarning, NotFittedError  # noqa: E402
from cmf.model import MatrixFactorization  # noqa: E402
from cmf.bayesian import BayesianMatrixFactorization  # noqa: E402

__all__ = [
    "BPR",
    "BayesianMatrixFactorization",
    "ConvergenceWarning",
    "DivergenceError",
    "DuplicateRatingsWarning",
    "MatrixFactorization",
    "NotFittedError",
    "__version__",
    "get_include",
]
