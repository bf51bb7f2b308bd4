"""MBG/NBD: BG/NBD in which a customer may also drop out right after the first purchase."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np
from scipy.special import betaln, gammaln

from churnmodel.models._summary import RFMData
from churnmodel.models.beta_geo import BetaGeoModel

__all__ = ["ModifiedBetaGeoModel"]


class ModifiedBetaGeoModel(BetaGeoModel):
    """MBG/NBD purchase model: as :class:`BetaGeoModel`, with a dropout chance at time 0 too.

    A customer drops out with probability ``p ~ Beta(a, b)`` after every purchase, including the
    first one, so one-time buyers are not automatically alive: P(alive) < 1 for them too. Same
    hyperparameters, attributes and methods as :class:`BetaGeoModel`.

    Parameters
    ----------
    penalizer
        L2 penalty on the parameters, as lifetimes' ``penalizer_coef`` (0: maximum likelihood).
    initial_params
        Starting values ``{"r", "alpha", "a", "b"}``; default: derived from the data.

    References
    ----------
    Batislam, E. P., Denizel, M. and Filiztekin, A. (2007), "Empirical validation and comparison
    of models for customer base analysis", International Journal of Research in Marketing 24(3),
    201-209.

    Wagner, U. and Hoppe, D. (2008), "Erratum on the MBG/NBD Model", International Journal of
    Research in Marketing 25(3), 225-226.
    """

    _param_names = ("r", "alpha", "a", "b")
    _lifetimes_fitter = "ModifiedBetaGeoFitter"
    _dropout_offset = 1
    _coefficient_groups: ClassVar[tuple[tuple[str, str, str, float], ...]] = ()

    def __init__(
        self, *, penalizer: float = 0.0, initial_params: Mapping[str, float] | None = None
    ) -> None:
        self.penalizer = penalizer
        self.initial_params = initial_params

    def _log_likelihood_rows(self, params: np.ndarray, data: RFMData) -> np.ndarray:
        r, alpha, a, b = params
        x, t_x, T = data.frequency, data.recency, data.T
        a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
        a2 = betaln(a, b + x + 1.0) - betaln(a, b)
        a3 = -(r + x) * np.log(alpha + T)
        a4 = np.log(a) - np.log(b + x) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
        return np.asarray(a1 + a2 + a3 + np.logaddexp(a4, 0.0))
