"""Statistics for comparing library conditions: Wilson intervals, exact tests, equivalence, sample size.

Pure functions over counts, built on scipy and statsmodels; degenerate input raises
:class:`engine.errors.UserError`.
"""

from engine.stats.compare import Comparison, compare
from engine.stats.equivalence import Equivalence, tost
from engine.stats.intervals import Interval, overlap, wilson, wilson_many
from engine.stats.sample_size import SampleSize, n_needed

__all__ = [
    "Comparison",
    "Equivalence",
    "Interval",
    "SampleSize",
    "compare",
    "n_needed",
    "overlap",
    "tost",
    "wilson",
    "wilson_many",
]
