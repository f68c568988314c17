"""A LightGBM binary ensemble evaluated by numba (:mod:`onemap.change._tree_kernels`).

Same probabilities as LightGBM's ``Booster.predict`` (same decisions, trees added in the same
order: bit-identical raw scores; the probabilities were bit-identical too on 1e6 rows, the
tests allow 1e-12 for the exponential), 3.5-5x faster on one thread (benchmarks/bench_trees.py)
and without the GIL, so tiles predicted in threads run in parallel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import DataError, FormatError
from . import _tree_kernels as K

__all__ = ["Ensemble", "FeatureMatrixError", "UnsupportedModelError"]


class UnsupportedModelError(FormatError):
    """A LightGBM model this evaluator cannot reproduce exactly (categorical splits, linear
    trees, an objective other than binary, several trees per iteration)."""


class FeatureMatrixError(DataError):
    """A feature matrix of the wrong shape for the ensemble."""


def _refuse(what: str) -> UnsupportedModelError:
    return UnsupportedModelError(
        f"the LightGBM model has {what}, which onemap's tree evaluator does not handle",
        hint="predict with lightgbm.Booster(model_str=text).predict instead",
    )


def _blocks(text: str) -> tuple[dict[str, str], list[dict[str, str]]]:
    """Header keys and one dict per ``Tree=`` block of a LightGBM model text."""
    head: dict[str, str] = {}
    trees: list[dict[str, str]] = []
    cur = head
    for line in text.splitlines():
        if line.startswith("end of trees"):
            break
        key, eq, val = line.partition("=")
        if not eq:
            continue
        if key == "Tree":
            cur = {}
            trees.append(cur)
        else:
            cur[key] = val
    return head, trees


def _depth(left: list[int], right: list[int], root: int) -> int:
    """Depth of the deepest leaf of the tree whose split nodes start at *root*."""
    deepest, stack = 0, [(root, 0)] if root < len(left) else []
    while stack:
        node, d = stack.pop()
        deepest = max(deepest, d + 1)
        stack += [(c, d + 1) for c in (left[node], right[node]) if root <= c < len(left)]
    return deepest


def _nums(block: dict[str, str], key: str, kind: type) -> list[Any]:
    return [kind(v) for v in block.get(key, "").split()]


@dataclass(frozen=True, eq=False)
class Ensemble:
    """A LightGBM binary model as flat read-only arrays (see :mod:`._tree_kernels`).

    Build it with :meth:`from_text` (a ``Booster.model_to_string()`` text, as stored in onemap's
    model files) or :meth:`from_booster`.

    Examples
    --------
    >>> import lightgbm as lgb, numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(2000, 3)).astype(np.float32)
    >>> X[::7, 1] = np.nan
    >>> y = X[:, 0] + 0.5 * np.nan_to_num(X[:, 1]) > 0
    >>> booster = lgb.train({"objective": "binary", "num_leaves": 7, "verbosity": -1},
    ...                     lgb.Dataset(X, y), num_boost_round=20)
    >>> ens = Ensemble.from_text(booster.model_to_string())
    >>> ens.n_trees, ens.n_features
    (20, 3)
    >>> bool(np.abs(ens.predict(X) - booster.predict(X)).max() < 1e-12)
    True
    """

    feat: np.ndarray  # uint32 (nodes,), leaves included
    thr: np.ndarray  # float64 (nodes,)
    child: np.ndarray  # uint32 (2 * nodes,): left, right; a leaf's are itself
    flags: np.ndarray  # uint8 (nodes,)
    value: np.ndarray  # float64 (nodes,): leaf values, 0 at split nodes
    roots: np.ndarray  # uint32 (trees,)
    depth: np.ndarray  # int32 (trees,): deepest leaf
    rest: np.ndarray  # float64 (trees,): the largest sum of leaves the trees after each can add
    n_features: int
    sigmoid: float = 1.0
    feature_names: tuple[str, ...] = ()

    @property
    def n_trees(self) -> int:
        return int(self.roots.size)

    @property
    def n_leaves(self) -> int:
        return int((self.child[::2] == np.arange(self.feat.size)).sum())

    def __repr__(self) -> str:
        return (f"Ensemble({self.n_trees} trees, {self.n_leaves} leaves, {self.n_features} "
                f"features, sigmoid {self.sigmoid:g})")

    @classmethod
    def from_booster(cls, booster: Any) -> Ensemble:
        """The ensemble of a ``lightgbm.Booster`` (its saved iterations, as it predicts)."""
        return cls.from_text(booster.model_to_string())

    @classmethod
    def from_text(cls, text: str) -> Ensemble:
        """Parse a LightGBM model text; :class:`UnsupportedModelError` for what it cannot
        evaluate exactly."""
        head, trees = _blocks(text)
        if "max_feature_idx" not in head or not trees:
            raise FormatError("not a LightGBM model text (no max_feature_idx or no trees)",
                              hint="pass Booster.model_to_string()")
        objective = head.get("objective", "").split()
        if not objective or objective[0] != "binary":
            raise _refuse(f"objective {' '.join(objective) or 'none'!r} (not binary)")
        if head.get("num_tree_per_iteration", "1") != "1" or "average_output" in head:
            raise _refuse("several trees per iteration or averaged output (random forest)")
        scale = 1.0
        for part in objective[1:]:
            if part.startswith("sigmoid:"):
                scale = float(part[8:])
        split_nodes = sum(len(_nums(t, "split_feature", int)) for t in trees)
        feat: list[int] = []
        left: list[int] = []
        right: list[int] = []
        dec: list[int] = []
        roots: list[int] = []
        depth: list[int] = []
        top: list[float] = []  # each tree's largest leaf
        thr: list[float] = []
        value: list[float] = []
        n_features = int(head["max_feature_idx"]) + 1
        damaged = FormatError("a damaged LightGBM model text (inconsistent tree arrays)",
                              hint="pass an undamaged Booster.model_to_string()")
        for t in trees:
            if int(t.get("num_cat", "0")) or t.get("is_linear", "0") != "0":
                raise _refuse("categorical splits or linear trees")
            n0, l0 = len(feat), split_nodes + len(value)  # leaves follow all split nodes
            try:
                leaves = _nums(t, "leaf_value", float)
                f, th, dt = (_nums(t, "split_feature", int), _nums(t, "threshold", float),
                             _nums(t, "decision_type", int))
                lc, rc = _nums(t, "left_child", int), _nums(t, "right_child", int)
            except ValueError as exc:
                raise damaged from exc
            ns = len(leaves) - 1
            if (len(leaves) != int(t.get("num_leaves", -1)) or ns < 0
                    or not len(f) == len(th) == len(dt) == len(lc) == len(rc) == ns
                    or any(not 0 <= v < n_features for v in f)
                    or any(not -len(leaves) <= c < ns for c in lc + rc)):
                raise damaged
            value += leaves
            top.append(max(leaves))
            feat += f
            thr += th
            dec += dt
            for dst, cs in ((left, lc), (right, rc)):
                dst += [c + n0 if c >= 0 else l0 + ~c for c in cs]
            roots.append(n0 if ns else l0)
            depth.append(_depth(left, right, n0))
        d = np.asarray(dec, np.int64)
        if (d & 1).any():
            raise _refuse("categorical splits")
        thr_a = np.asarray(thr, np.float64)
        dleft = (d & 2) != 0
        missing = (d >> 2) & 3  # 0 None, 1 Zero, 2 NaN
        # NaN is 0 for missing type None, the default way for Zero and NaN
        nan_left = np.where(missing == 0, 0.0 <= thr_a, dleft)
        flags = (nan_left * K.NAN_LEFT + (missing == 1) * K.ZERO_MISSING
                 + dleft * K.DEFAULT_LEFT).astype(np.uint8)
        nl = len(value)
        leaf = np.arange(split_nodes, split_nodes + nl)  # a leaf's children are itself
        child = np.stack([np.concatenate([left, leaf]), np.concatenate([right, leaf])], axis=1)
        ens = cls(np.concatenate([np.asarray(feat, np.uint32), np.zeros(nl, np.uint32)]),
                  np.concatenate([thr_a, np.zeros(nl)]), child.astype(np.uint32).reshape(-1),
                  np.concatenate([flags, np.zeros(nl, np.uint8)]),
                  np.concatenate([np.zeros(split_nodes), np.asarray(value, np.float64)]),
                  np.asarray(roots, np.uint32), np.asarray(depth, np.int32),
                  np.append(np.cumsum(top[::-1])[::-1][1:], 0.0),
                  n_features=n_features, sigmoid=scale,
                  feature_names=tuple(head.get("feature_names", "").split()))
        for a in ens._arrays():
            a.setflags(write=False)
        return ens

    # -- evaluation ----------------------------------------------------------------------------
    def _matrix(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise FeatureMatrixError(
                f"the feature matrix has shape {X.shape}; the model needs (rows, "
                f"{self.n_features})",
                hint="pass one row per sample and the model's features as columns, in its order",
            )
        return X if X.dtype in (np.float32, np.float64) else X.astype(np.float64)

    def _arrays(self) -> tuple[np.ndarray, ...]:
        return (self.feat, self.thr, self.child, self.flags, self.value, self.roots, self.depth,
                self.rest)

    def raw(self, X: np.ndarray, floor: float = -np.inf) -> np.ndarray:
        """Raw scores (sum of the trees' leaves, float64) of the rows of *X* ``(n, k)``; rows
        sure to stay below *floor* may stop early with ``-inf``."""
        X = self._matrix(X)
        n = X.shape[0]
        out = np.empty(n, np.float64)
        K.raw_at(X.T[:, :, None], np.arange(n, dtype=np.int64), np.zeros(n, np.int64),
                 self.feat, self.thr, self.child, self.flags, self.value, self.roots, self.depth,
                 self.rest, floor, out)
        return out

    def predict(self, X: np.ndarray, at_least: float = 0.0) -> np.ndarray:
        """Probabilities (float64) of the rows of *X* ``(n, k)``, as ``Booster.predict``.

        *at_least*: only the probabilities reaching this level matter; rows whose later trees
        cannot lift them to it stop early and get 0 (as :meth:`predict_at`).
        """
        raw = self.raw(X, self._floor(at_least))
        K.sigmoid(raw, self.sigmoid, raw)
        return raw

    def predict_at(self, features: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                   at_least: float = 0.0) -> np.ndarray:
        """Probabilities of pixels ``features[:, rows[i], cols[i]]`` of a ``(k, h, w)`` stack
        (any strides, e.g. a sliced view): as ``predict(features[:, rows, cols].T)`` without
        the gathered copy.

        *at_least*: only whether a probability reaches this level matters (a pre-screen):
        pixels whose later trees cannot lift them to it are not walked further and get 0.
        Which pixels reach the level is exactly as without it; the others' values are lost.
        """
        F = np.asarray(features)
        if F.ndim != 3 or F.shape[0] != self.n_features:
            raise FeatureMatrixError(
                f"the feature stack has shape {F.shape}; the model needs ({self.n_features}, "
                "rows, cols)",
                hint="pass the features as a (feature, row, col) array in the model's order",
            )
        if F.dtype not in (np.float32, np.float64):
            F = F.astype(np.float64)
        r, c = np.asarray(rows, np.int64), np.asarray(cols, np.int64)
        if r.shape != c.shape or r.ndim != 1:
            raise FeatureMatrixError("rows and cols must be 1-D arrays of the same length",
                                     hint="pass np.nonzero(mask) of a 2-D mask")
        if r.size and (r.min() < 0 or c.min() < 0 or r.max() >= F.shape[1]
                       or c.max() >= F.shape[2]):
            raise FeatureMatrixError(f"pixel indices outside the {F.shape[1:]} feature stack",
                                     hint="pass indices within the stack (np.nonzero of a mask)")
        out = np.empty(r.size, np.float64)
        K.raw_at(F, r, c, self.feat, self.thr, self.child, self.flags, self.value, self.roots,
                 self.depth, self.rest, self._floor(at_least), out)
        K.sigmoid(out, self.sigmoid, out)
        return out

    def bound(self, lo: np.ndarray, hi: np.ndarray) -> float:
        """The largest raw score of any row whose features *j* all lie in ``(lo[j], hi[j]]``
        (float64, ``-inf`` / ``inf`` for no limit; NaN is in no box): a sure upper bound."""
        lo, hi = np.asarray(lo, np.float64), np.asarray(hi, np.float64)
        if lo.shape != (self.n_features,) or hi.shape != lo.shape:
            raise FeatureMatrixError(f"a box needs {self.n_features} lower and upper limits",
                                     hint="pass one limit per feature, in the model's order")
        return float(K.box_bound(self.feat, self.thr, self.child, self.flags, self.value,
                                 self.roots, lo, hi))

    def thresholds(self, feature: int) -> np.ndarray:
        """The sorted distinct split thresholds on *feature*: its decisions change there only."""
        split = self.child[::2] != np.arange(self.feat.size)
        return np.unique(self.thr[split & (self.feat == feature)])

    def _floor(self, level: float) -> float:
        """A raw score below which the probability is surely below *level* (-inf: none)."""
        if not 0.0 < level < 1.0:
            return -np.inf
        # sigmoid(x) >= level  <=>  x >= logit(level) / scale; the margin covers the rounding
        # of the sums, which the early stop adds in another order
        return float(np.log(level / (1.0 - level)) / self.sigmoid) - 1e-6
