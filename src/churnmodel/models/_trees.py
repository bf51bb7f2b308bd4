"""Gradient boosting that scores a few rows fast: every tree walked at once in NumPy.

scikit-learn's ``HistGradientBoosting*`` predict one tree at a time, and each tree costs a
fixed ~12 us of call overhead: 2.2 ms for the 200 trees of the spend model, whatever the number
of rows. A scoring request holds one customer. :class:`FastHGBClassifier` and
:class:`FastHGBRegressor` are the scikit-learn estimators with one change: for at most
:data:`SMALL_BATCH_ROWS` rows, :meth:`_predict_iterations` walks all trees level by level
with NumPy (about 0.2 ms) and adds the leaf values in scikit-learn's order (so the sums are
the same to the last bit); larger batches, binned data during ``fit`` and anything unusual
go to scikit-learn's own code. ``tests/models/test_trees.py`` checks equality with the
scikit-learn estimators on numeric and categorical splits, missing values and unknown
categories.

Large batches predicted with one OpenMP thread (training caps the threads at
``[model] threads``, default 1) are split into halves that two Python threads predict side by
side: scikit-learn's tree walk releases the interpreter lock, and two one-thread teams never
spin-wait on a busy core the way one two-thread OpenMP team does. Every row's sum is the same.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

from churnmodel.models.estimators import usable_cores

__all__ = ["SMALL_BATCH_ROWS", "FastHGBClassifier", "FastHGBRegressor"]

#: Batches up to this many rows are predicted by walking all trees at once.
SMALL_BATCH_ROWS = 64
#: Batches from this many rows, predicted with one OpenMP thread, are split over two threads.
SPLIT_BATCH_ROWS = 100_000


@dataclass(frozen=True)
class _Forest:
    """The trees of one output (class) of a fitted model, their nodes in flat arrays."""

    roots: np.ndarray  # (n_trees,) index of each tree's root
    feature: np.ndarray
    threshold: np.ndarray
    missing_left: np.ndarray
    is_leaf: np.ndarray
    is_categorical: np.ndarray
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray
    bitset_idx: np.ndarray  # row of ``bitsets`` for categorical nodes
    bitsets: np.ndarray  # raw left-category bitsets of every tree, (n, 8) uint32
    depth: int

    @classmethod
    def of(cls, predictors: list[Any]) -> _Forest:
        nodes = [p.nodes for p in predictors]
        sizes = np.array([len(n) for n in nodes])
        offsets = np.concatenate(([0], np.cumsum(sizes)[:-1]))
        bitsets = [p.raw_left_cat_bitsets for p in predictors]
        bit_offsets = np.concatenate(([0], np.cumsum([len(b) for b in bitsets])[:-1]))
        flat = np.concatenate(nodes)
        node_offset = np.repeat(offsets, sizes)
        leaf = flat["is_leaf"].astype(bool)
        return cls(
            roots=offsets.astype(np.intp),
            feature=flat["feature_idx"].astype(np.intp),
            threshold=flat["num_threshold"].astype(np.float64),
            missing_left=flat["missing_go_to_left"].astype(bool),
            is_leaf=leaf,
            is_categorical=flat["is_categorical"].astype(bool) & ~leaf,
            left=np.where(leaf, 0, flat["left"] + node_offset).astype(np.intp),
            right=np.where(leaf, 0, flat["right"] + node_offset).astype(np.intp),
            value=flat["value"].astype(np.float64),
            bitset_idx=(flat["bitset_idx"] + np.repeat(bit_offsets, sizes)).astype(np.intp),
            bitsets=(
                np.concatenate(bitsets) if sum(len(b) for b in bitsets) else np.zeros((1, 8))
            ).astype(np.uint32),
            depth=int(flat["depth"].max()) if len(flat) else 0,
        )

    def leaf_values(
        self, X: np.ndarray, known_bitsets: np.ndarray, f_idx_map: np.ndarray
    ) -> np.ndarray:
        """Return the leaf value each row reaches in each tree, shape (n_rows, n_trees).

        The rules of scikit-learn's ``_predict_one_from_raw_data``: NaN goes the node's
        missing way; a categorical value goes left when in the node's bitset, right when a
        known category, and the missing way when negative or unknown; a number goes left
        when ``<= threshold``.
        """
        n_rows = X.shape[0]
        node = np.broadcast_to(self.roots, (n_rows, len(self.roots))).copy()
        rows = np.arange(n_rows)[:, None]
        for _ in range(self.depth):
            inner = ~self.is_leaf[node]
            if not inner.any():
                break
            feature = self.feature[node]
            x = X[rows, feature]
            missing = np.isnan(x)
            go_left = np.where(missing, self.missing_left[node], x <= self.threshold[node])
            cat = self.is_categorical[node] & ~missing & inner
            if cat.any():
                go_left[cat] = self._categorical_left(
                    x[cat], node[cat], feature[cat], known_bitsets, f_idx_map
                )
            step = np.where(go_left, self.left[node], self.right[node])
            node = np.where(inner, step, node)
        return self.value[node]

    def _categorical_left(
        self,
        x: np.ndarray,
        node: np.ndarray,
        feature: np.ndarray,
        known_bitsets: np.ndarray,
        f_idx_map: np.ndarray,
    ) -> np.ndarray:
        code = np.where(x < 0, 0, x).astype(np.uint8)  # the C cast scikit-learn applies
        word, bit = code // 32, (code % 32).astype(np.uint32)
        in_left = (self.bitsets[self.bitset_idx[node], word] >> bit) & 1
        known = (known_bitsets[f_idx_map[feature], word] >> bit) & 1
        missing_way = self.missing_left[node]
        return np.where(
            x < 0,
            missing_way,
            np.where(in_left == 1, True, np.where(known == 1, False, missing_way)),
        )


class _SmallBatchPredict:
    """Mixin over a ``HistGradientBoosting*`` estimator: small batches walk all trees at once."""

    _predictors: list[list[Any]]
    _bin_mapper: Any
    _preprocessor: Any
    is_categorical_: Any

    def _forests(
        self, predictors: list[list[Any]]
    ) -> tuple[list[_Forest], np.ndarray, np.ndarray, np.ndarray | None]:
        """Return the flat trees of each output and the known categories (cached)."""
        # The cache holds the lists it was built from: a refit makes new ones (an id could be
        # reused once the old list is gone; a reference cannot).
        key = (predictors, len(predictors), self._bin_mapper)
        cached = self.__dict__.get("_forests_cache")
        if (
            cached is None
            or cached[0][0] is not predictors
            or cached[0][1] != len(predictors)
            or cached[0][2] is not self._bin_mapper
        ):
            n_outputs = len(predictors[0])
            forests = [_Forest.of([it[k] for it in predictors]) for k in range(n_outputs)]
            known_bitsets, f_idx_map = self._bin_mapper.make_known_categories_bitsets()
            categorical = self._bin_mapper.is_categorical_
            mask = None if categorical is None else np.asarray(categorical, dtype=bool)
            cached = (key, (forests, known_bitsets, f_idx_map, mask))
            self.__dict__["_forests_cache"] = cached
        return cached[1]

    def _predict_iterations(
        self,
        X: np.ndarray,
        predictors: list[list[Any]],
        raw_predictions: np.ndarray,
        is_binned: bool,
        n_threads: int,
    ) -> None:
        small = not is_binned and 0 < X.shape[0] <= SMALL_BATCH_ROWS and len(predictors) > 0
        if small:
            forests, known_bitsets, f_idx_map, categorical = self._forests(predictors)
            if categorical is not None and categorical.any():
                # Category codes scikit-learn casts to uint8: anything beyond, its own code.
                codes = X[:, categorical]
                small = not np.any(codes[~np.isnan(codes)] >= 256)
        if not small:
            predict = super()._predict_iterations  # type: ignore[misc]
            rows = X.shape[0]
            if is_binned or n_threads != 1 or rows < SPLIT_BATCH_ROWS or usable_cores() < 2:
                predict(X, predictors, raw_predictions, is_binned, n_threads)
                return
            half = rows // 2
            with ThreadPoolExecutor(2) as pool:
                parts = [
                    pool.submit(predict, X[a:b], predictors, raw_predictions[a:b], False, 1)
                    for a, b in ((0, half), (half, rows))
                ]
                for part in parts:
                    part.result()
            return
        X = np.asarray(X, dtype=np.float64)
        for k, forest in enumerate(forests):
            values = forest.leaf_values(X, known_bitsets, f_idx_map)
            # Added tree by tree onto the baseline, as scikit-learn does (cumsum is sequential).
            sums = np.cumsum(np.column_stack([raw_predictions[:, k], values]), axis=1)
            raw_predictions[:, k] = sums[:, -1]

    def _preprocess_X(self, X: Any, *, reset: bool) -> Any:
        """scikit-learn's input step; a small float batch skips its validation pipeline.

        With categorical features, scikit-learn validates and encodes every batch through a
        ``ColumnTransformer`` (an ``OrdinalEncoder`` on the categorical columns, ``check_array``
        on the others, output with the categorical columns first): about 1 ms of fixed cost.
        For a float64 batch of at most :data:`SMALL_BATCH_ROWS` rows, the same
        matrix is built here: a category seen in ``fit`` becomes its index among the fitted
        categories, anything else (unseen, missing) NaN, as the fitted encoder does. Without
        categorical features (a model fitted on an unnamed float matrix), such a batch is
        what scikit-learn's ``check_array`` would return: it is passed on as it is.
        """
        small = (
            not reset
            and isinstance(X, np.ndarray)
            and X.dtype == np.float64
            and X.ndim == 2
            and 0 < X.shape[0] <= SMALL_BATCH_ROWS
            and X.shape[1] == getattr(self, "n_features_in_", -1)
            and getattr(self, "feature_names_in_", None) is None
        )
        if small and getattr(self, "_preprocessor", None) is None:
            # No categories (fitted on a float matrix): scikit-learn's validation would
            # return the same float64 matrix (0.2 ms of checks per call).
            return X
        if not small:
            return super()._preprocess_X(X, reset=reset)  # type: ignore[misc]
        categorical, categories = self._encoding()
        if categories is None or np.isinf(X[:, categorical]).any():
            # scikit-learn's encoder refuses infinite categories: let it say so.
            return super()._preprocess_X(X, reset=reset)  # type: ignore[misc]
        n_cat = len(categories)
        out = np.empty(X.shape, dtype=np.float64)
        for i, (j, known) in enumerate(zip(np.flatnonzero(categorical), categories, strict=True)):
            x = X[:, j]
            if known.size == 0:
                out[:, i] = np.nan
                continue
            at = np.minimum(np.searchsorted(known, x), known.size - 1)
            out[:, i] = np.where(known[at] == x, at, np.nan)
        out[:, n_cat:] = X[:, ~categorical]
        return out

    def _encoding(self) -> tuple[np.ndarray, list[np.ndarray] | None]:
        """Return the categorical mask and the sorted known categories of each (cached)."""
        cached = self.__dict__.get("_encoding_cache")
        if cached is None or cached[0] is not self._preprocessor:
            encoder = self._preprocessor.named_transformers_["encoder"]
            categories: list[np.ndarray] | None = []
            for cats in encoder.categories_:
                values = np.asarray(cats)
                if values.dtype.kind != "f":  # not fitted on a float matrix: leave it
                    categories = None
                    break
                assert categories is not None
                categories.append(values[~np.isnan(values)])
            mask = np.asarray(self.is_categorical_, dtype=bool)
            cached = (self._preprocessor, (mask, categories))
            self.__dict__["_encoding_cache"] = cached
        return cast(tuple[np.ndarray, list[np.ndarray] | None], cached[1])

    def __getstate__(self) -> dict[str, Any]:
        state: dict[str, Any] = dict(cast(dict[str, Any], super().__getstate__()))
        state.pop("_forests_cache", None)
        state.pop("_encoding_cache", None)
        return state


class FastHGBClassifier(_SmallBatchPredict, HistGradientBoostingClassifier):
    """``HistGradientBoostingClassifier`` that predicts small batches faster (same values)."""


class FastHGBRegressor(_SmallBatchPredict, HistGradientBoostingRegressor):
    """``HistGradientBoostingRegressor`` that predicts small batches faster (same values)."""
