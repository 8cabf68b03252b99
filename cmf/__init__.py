"""cmf: matrix factorization and completion by stochastic gradient descent.

The estimator is :class:`MatrixFactorization`; its SGD epoch runs in C.
Top-N recommendation, similar items and users and fold-in of new users are
functions of a fitted model in :mod:`cmf.recommend` (and methods of it).
"""

from cmf._include import get_include
from cmf._version import __version__
from cmf.exceptions import ConvergenceWarning, DivergenceError, NotFittedError
from cmf.model import MatrixFactorization

__all__ = [
    "ConvergenceWarning",
    "DivergenceError",
    "MatrixFactorization",
    "NotFittedError",
    "__version__",
    "get_include",
]
