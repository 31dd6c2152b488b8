"""The truncated normal survival function in log space and its inversion in the mean (the TG pivot).

For Z ~ N(mean, sd^2) conditioned on ``lower <= Z <= upper``, ``survival`` is
``P(Z > z | lower <= Z <= upper) = (Phi(b) - Phi(w)) / (Phi(b) - Phi(a))`` with a, w, b the
standardized ``lower``, ``z``, ``upper``: the truncated-Gaussian ("TG") pivot of Lee, Sun, Sun and
Taylor (2016), R's selectiveInference ``tnorm.surv`` (funs.inf.R). R computes the ratio with
``pnorm`` and falls back on Bryc's (2002) tail approximation when it fails; here every Gaussian
mass is taken in log space (``scipy.special.log_ndtr`` in the tail it sits in, ``erf`` across 0,
where the two halves add without cancellation), so the pivot stays accurate far in the tails.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import brentq
from scipy.special import erf, log_ndtr


def _log1mexp(d: float) -> float:
    """log(1 - exp(d)) for d <= 0, accurate near 0 and at -inf (Maechler 2012)."""
    if d == 0.0:
        return -math.inf
    if d > -math.log(2.0):
        return math.log(-math.expm1(d))
    return math.log1p(-math.exp(d))


def log_gauss_mass(a: float, b: float) -> float:
    """log(Phi(b) - Phi(a)) for a <= b, taking each mass from the tail where it is small."""
    if a >= b:
        return -math.inf
    if a >= 0.0:
        # Both in the right tail: Phi(b) - Phi(a) = Q(a) - Q(b) with Q(x) = Phi(-x).
        log_qa, log_qb = float(log_ndtr(-a)), float(log_ndtr(-b))
        return log_qa + _log1mexp(log_qb - log_qa)
    if b <= 0.0:
        log_pb, log_pa = float(log_ndtr(b)), float(log_ndtr(a))
        return log_pb + _log1mexp(log_pa - log_pb)
    # a < 0 < b: erf(b/sqrt2) > 0 > erf(a/sqrt2), so the difference is a sum, no cancellation.
    return math.log(0.5 * (float(erf(b / math.sqrt(2.0))) - float(erf(a / math.sqrt(2.0)))))


def survival(z: float, mean: float, sd: float, lower: float, upper: float) -> float:
    """P(Z > z | lower <= Z <= upper), Z ~ N(mean, sd^2); ``z`` clamped into [lower, upper] as R does."""
    z = min(max(z, lower), upper)
    a, w, b = (lower - mean) / sd, (z - mean) / sd, (upper - mean) / sd
    log_total = log_gauss_mass(a, b)
    if log_total == -math.inf:
        # A window too narrow for double precision to hold its mass (R returns NaN here): on a
        # window much shorter than the density's scale there the density is flat.
        return 0.5 if b <= a else (b - w) / (b - a)
    return min(1.0, math.exp(log_gauss_mass(w, b) - log_total))


def pivot_root(z: float, sd: float, lower: float, upper: float, target: float, span: float) -> float:
    """The mean m with ``survival(z, m, sd, lower, upper) == target``, searched in z +- span * sd.

    The survival function increases in the mean (from 0 to 1), so the root is unique; outside the
    window it is reported as -inf / +inf, as R's ``grid.search`` does beyond its grid.
    """

    def excess(mean: float) -> float:
        return survival(z, mean, sd, lower, upper) - target

    left, right = z - span * sd, z + span * sd
    if excess(left) > 0.0:
        return -math.inf
    if excess(right) < 0.0:
        return math.inf
    root = brentq(
        excess, left, right, xtol=1e-12 * max(sd, abs(z)), rtol=4 * np.finfo(float).eps, maxiter=200
    )
    return float(root)
