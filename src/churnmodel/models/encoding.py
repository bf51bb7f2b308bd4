"""Feature frames to the float matrices the supervised estimators read, the same way each time."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, cast

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from sklearn.utils.validation import validate_data

from churnmodel.exceptions import DataValidationError
from churnmodel.schemas import LIFECYCLE_STAGES

__all__ = [
    "TabularEncoder",
    "categorical_mask",
    "fit_matrix",
    "linear_preprocessor",
    "signed_log1p",
    "transform_matrix",
]


# ----------------------------------------------------------------------------- encoding
class TabularEncoder:
    """Turn a features frame with categorical columns into a float matrix, the same way each time.

    Categorical columns (pandas ``category``, ``object`` or string dtype) become integer codes
    of the categories seen in ``fit`` (NaN for missing or unseen values); numeric columns are
    cast to float (NaN kept: read as missing). :data:`LIFECYCLE_STAGES` fixes the codes of
    ``lifecycle_stage`` so that they never depend on which stages a training set holds.
    Columns are matched by name, so their order may change between ``fit`` and ``transform``.
    Fitted attributes: ``columns_``, ``categories_`` (column -> categories).
    """

    def fit(self, X: pd.DataFrame) -> Self:
        """Learn the columns and categories of ``X``."""
        self.columns_: list[Any] = list(X.columns)
        self.categories_: dict[Any, list[Any]] = {}
        for name in X.columns:
            column = X[name]
            if not _is_categorical(column):
                continue
            if name == "lifecycle_stage":
                cats: list[Any] = list(LIFECYCLE_STAGES)
            elif isinstance(column.dtype, pd.CategoricalDtype):
                cats = list(column.cat.categories)
            else:
                cats = sorted(pd.unique(column.dropna()).tolist(), key=str)
            self.categories_[name] = cats
        return self

    @property
    def categorical_mask(self) -> np.ndarray:
        """Boolean mask of the categorical columns of the encoded matrix."""
        return np.array([c in self.categories_ for c in self.columns_], dtype=bool)

    def transform(self, X: Any) -> np.ndarray:
        """Return ``X`` as a float matrix (categorical columns as codes)."""
        if not isinstance(X, pd.DataFrame):
            raise DataValidationError(
                f"the model was fitted on a DataFrame with columns {self.columns_[:5]}...; "
                f"pass a DataFrame with the same columns, got {type(X).__name__}"
            )
        self._check_columns(X.columns)
        out = np.empty((len(X), len(self.columns_)), dtype=np.float64)
        numeric = [j for j, name in enumerate(self.columns_) if name not in self.categories_]
        block = X.loc[:, [self.columns_[j] for j in numeric]]
        if all(
            pd.api.types.is_numeric_dtype(t) and not pd.api.types.is_bool_dtype(t)
            for t in block.dtypes
        ):
            # Numbers already: one conversion of the whole block (a scoring request has few
            # rows and ~30 columns, where column-by-column conversion costs 1 ms).
            out[:, numeric] = block.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            for j in numeric:
                column = X[self.columns_[j]]
                out[:, j] = pd.to_numeric(column).to_numpy(dtype=np.float64, na_value=np.nan)
        for j, name in enumerate(self.columns_):
            if name in self.categories_:
                out[:, j] = self._codes(name, X[name].astype(object).to_numpy())
        return self._finite(out)

    def transform_columns(self, columns: Mapping[str, Any], n_rows: int) -> np.ndarray:
        """Return :meth:`transform` of columns given as arrays (name -> values), same matrix.

        Numeric columns are NumPy arrays (NaN read as missing); categorical ones hold the
        category values (a pandas ``Categorical`` or an object array).
        """
        self._check_columns(columns)
        out = np.empty((n_rows, len(self.columns_)), dtype=np.float64)
        for j, name in enumerate(self.columns_):
            values = columns[name]
            out[:, j] = self._codes(name, values) if name in self.categories_ else values
        return self._finite(out)

    def _check_columns(self, present: Any) -> None:
        missing = [c for c in self.columns_ if c not in present]
        if missing:
            raise DataValidationError(
                f"the features have no column {missing[0]!r} ({len(missing)} missing)",
                column=str(missing[0]),
                hint="pass the same feature columns the model was fitted on",
            )

    def _codes(self, name: Any, values: Any) -> np.ndarray:
        """Return the fitted category codes of ``values`` (NaN for missing or unseen)."""
        cache = self.__dict__.setdefault("_index_cache", {})
        if name not in cache:
            cache[name] = pd.Index(self.categories_[name])
        index = cast(pd.Index, cache[name])
        if isinstance(values, pd.Categorical):
            # Codes of the column's own categories -> codes of the fitted ones.
            mapped = index.get_indexer(values.categories)
            codes = np.where(values.codes >= 0, mapped[values.codes], -1)
        else:
            codes = index.get_indexer(pd.Index(np.asarray(values, dtype=object)))
        return np.where(codes >= 0, codes, np.nan)

    def _finite(self, out: np.ndarray) -> np.ndarray:
        if np.isinf(out).any():
            bad = [c for j, c in enumerate(self.columns_) if np.isinf(out[:, j]).any()]
            raise DataValidationError(
                f"feature column(s) {bad} hold infinite values",
                column=str(bad[0]),
                hint="replace infinities with NaN (read as missing) or finite values",
            )
        return out

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_index_cache", None)
        return state


def _is_categorical(column: pd.Series) -> bool:
    return isinstance(column.dtype, pd.CategoricalDtype) or not (
        pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)
    )


def _needs_encoder(X: Any) -> bool:
    """Return whether ``X`` is a DataFrame (string column names) with a categorical column."""
    return (
        isinstance(X, pd.DataFrame)
        and all(isinstance(c, str) for c in X.columns)
        and any(_is_categorical(X[c]) for c in X.columns)
    )


def fit_matrix(estimator: BaseEstimator, X: Any) -> tuple[TabularEncoder | None, np.ndarray]:
    """Validate ``X`` in ``fit`` and return ``(encoder, float matrix)``.

    A DataFrame with categorical columns is encoded by a :class:`TabularEncoder` (returned),
    and ``n_features_in_`` and ``feature_names_in_`` are set here; anything else goes through
    scikit-learn's ``validate_data`` (numeric, NaN allowed), which sets them.
    """
    if _needs_encoder(X):
        encoder = TabularEncoder().fit(X)
        matrix = encoder.transform(X)
        if matrix.shape[0] < 1:
            raise ValueError("Found array with 0 sample(s) while a minimum of 1 is required.")
        estimator.n_features_in_ = matrix.shape[1]
        estimator.feature_names_in_ = np.asarray(encoder.columns_, dtype=object)
        return encoder, matrix
    matrix = validate_data(
        estimator, X, reset=True, dtype=np.float64, ensure_all_finite="allow-nan"
    )
    return None, np.asarray(matrix)


def transform_matrix(
    estimator: BaseEstimator, encoder: TabularEncoder | None, X: Any
) -> np.ndarray:
    """Return ``X`` as the float matrix a fitted estimator reads (see :func:`fit_matrix`)."""
    if encoder is not None:
        return encoder.transform(X)
    matrix = validate_data(
        estimator, X, reset=False, dtype=np.float64, ensure_all_finite="allow-nan"
    )
    return np.asarray(matrix)


def signed_log1p(values: np.ndarray) -> np.ndarray:
    """Return ``sign(x) * log(1 + |x|)``: tames heavy-tailed spend for linear models."""
    return np.asarray(np.sign(values) * np.log1p(np.abs(values)))


def categorical_mask(encoder: TabularEncoder | None, n_features: int) -> np.ndarray:
    """Return the categorical-column mask of an encoded matrix (all False without encoder)."""
    if encoder is None:
        return np.zeros(n_features, dtype=bool)
    return encoder.categorical_mask


def linear_preprocessor(categorical_mask: np.ndarray) -> ColumnTransformer:
    """Preprocessing for the linear alternatives (logistic, Poisson GLM) of an encoded matrix.

    Numeric columns: ``signed_log1p``, median imputation with missing-value indicators,
    standardisation. Categorical codes: one-hot, missing and unseen values as one more level.
    """
    mask = np.asarray(categorical_mask, dtype=bool)
    numeric = Pipeline(
        [
            ("log", FunctionTransformer(signed_log1p)),
            (
                "impute",
                SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
            ),
            ("scale", StandardScaler()),
        ]
    )
    categorical = Pipeline(
        [
            (
                "impute",
                SimpleImputer(strategy="constant", fill_value=-1.0, keep_empty_features=True),
            ),
            ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
        ]
    )
    parts: list[tuple[str, Any, Any]] = [("numeric", numeric, np.flatnonzero(~mask))]
    if mask.any():
        parts.append(("categorical", categorical, np.flatnonzero(mask)))
    return ColumnTransformer(parts)
