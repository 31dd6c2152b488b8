"""Tall fits: lasso / elastic-net paths and their CV from statistics reduced over a table's partitions.

A table no single process holds is a sequence of partitions (row blocks, in row order). The caller
supplies ``mapreduce(fn, parts)``: it applies ``fn(part, block)`` to each part's rows (``Block``)
wherever they live and reduces the results with ``+`` in any order (the results are associative
sums, so a tree reduce is fine). Gaussian: one pass for the per-fold moments (weighted X'X, X'y,
y'y, X'w, y'w, sum w, count), then the path and the CV curve from them in this process, and one
pass for the chosen model's mean absolute error. Binomial: proximal Newton, each outer step one
pass for the weighted Gram matrix and gradient (``logistic``). The outcome is a ``FitOutcome`` of
the same form as ``fit_model``'s on the concatenated rows, with equal numbers within the solvers'
tolerance.
"""

from service.modeling.tall.blocks import Block, MapReduce, Part, make_parts, sequential_mapreduce
from service.modeling.tall.fit import fit_tall

__all__ = ["Block", "MapReduce", "Part", "fit_tall", "make_parts", "sequential_mapreduce"]
