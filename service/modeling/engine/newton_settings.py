"""The proximal Newton settings of the logistic solvers, in memory (logistic_engine) and over partitions."""

from __future__ import annotations

# glmnet's curvature floor (pmin = 1e-5): rows fitted almost perfectly keep a little weight, so
# the quadratic model stays well posed.
CURVATURE_FLOOR = 1e-5
# Inexact Newton: each inner solve stops at this fraction of the squared KKT residual it starts from.
FORCING = 1e-2
MAX_HALVINGS = 30
# Epochs one inner solve may spend. Coordinate descent on nearly collinear columns converges at a
# rate near 1: one Newton step spent 35,000 epochs there, unseen by the stall guard, which checks
# between steps. A truncated inner solve is still a descent direction (backtracking keeps it one),
# so the outer loop goes on with its KKT check and guard every INNER_EPOCHS at most.
INNER_EPOCHS = 1000
# The null model (intercepts and unpenalized columns) is solved to this KKT residual.
NULL_MODEL_TOL = 1e-12
