"""The welfare program's constraint matrix, stored sparse.

A market's matrix has a handful of entries per column (a curve block
enters one balance row, a flow two, a floor or quota adds one more), so
its memory must grow with those entries, not with rows × columns: 2000
regions trading every way is 2000 rows × 4 million columns, 60 GiB dense
and some 220 MB here (24 bytes per entry; issue 17).

Only the few operations the program needs are here (products with a
vector and with its transpose, column subsets, dense blocks of chosen
rows and columns, HiGHS's column-wise arrays), on numpy alone: mineq has
no other use for scipy.  The compiled active-set step
(``models/_polish.c``) takes the arrays as they are.  The matrix never
changes after it is built, so a whole dense copy, where one is asked
for, is made once and kept.
"""

from __future__ import annotations

import numpy as np


class Matrix:
    """An ``m × n`` matrix by its non-zeros, column by column (CSC, with
    row indices ascending within a column, as HiGHS takes it)."""

    __slots__ = ("shape", "start", "index", "value", "_col", "_dense")

    def __init__(self, shape: tuple[int, int], start: np.ndarray, index: np.ndarray, value: np.ndarray):
        self.shape = (int(shape[0]), int(shape[1]))
        self.start = np.asarray(start, dtype=np.int64)
        self.index = np.asarray(index, dtype=np.int64)
        self.value = np.asarray(value, dtype=float)
        # the column of each entry, for the products below
        self._col = np.repeat(np.arange(self.shape[1], dtype=np.int64), np.diff(self.start))
        self._dense = None

    @classmethod
    def from_triplets(cls, shape, row, col, value) -> "Matrix":
        """From (row, column, value) triplets; an entry given twice is the
        sum of the two, and entries that are or sum to zero are left out
        (HiGHS and polish see only the non-zeros, as from a dense matrix)."""
        m, n = int(shape[0]), int(shape[1])
        row, col = np.asarray(row, dtype=np.int64), np.asarray(col, dtype=np.int64)
        value = np.asarray(value, dtype=float)
        key = col * m + row
        keys, inverse = np.unique(key, return_inverse=True)
        # summed in the order given, as np.add.at into zeros would
        summed = np.bincount(inverse.ravel(), weights=value, minlength=len(keys))
        keep = summed != 0.0
        keys, summed = keys[keep], summed[keep]
        cols = keys // m if m else keys
        start = np.searchsorted(cols, np.arange(n + 1))
        return cls((m, n), start, keys - cols * m, summed)

    @classmethod
    def from_dense(cls, a: np.ndarray) -> "Matrix":
        a = np.asarray(a, dtype=float)
        r, c = np.nonzero(a)
        return cls.from_triplets(a.shape, r, c, a[r, c])

    @property
    def nnz(self) -> int:
        return len(self.value)

    @property
    def nbytes(self) -> int:
        """Bytes held (not counting a kept dense copy)."""
        return self.start.nbytes + self.index.nbytes + self.value.nbytes + self._col.nbytes

    def __matmul__(self, x: np.ndarray) -> np.ndarray:
        """``A @ x`` for a vector ``x``."""
        return np.bincount(self.index, weights=self.value * _vector(x, self.shape[1])[self._col], minlength=self.shape[0]).astype(float, copy=False)  # float also when empty

    @property
    def T(self) -> "_Transposed":
        """``A.T @ y``, as with a dense matrix."""
        return _Transposed(self)

    def columns(self, cols) -> "Matrix":
        """``A[:, cols]``: the columns ``cols``, in that order."""
        cols = np.asarray(cols, dtype=np.int64)
        counts = self.start[cols + 1] - self.start[cols]
        start = np.zeros(len(cols) + 1, dtype=np.int64)
        np.cumsum(counts, out=start[1:])
        # position of each kept entry: its column's start plus its rank in it
        pick = np.repeat(self.start[cols] - start[:-1], counts) + np.arange(start[-1])
        return Matrix((self.shape[0], len(cols)), start, self.index[pick], self.value[pick])

    def dense(self, rows=None, cols=None) -> np.ndarray:
        """``A[np.ix_(rows, cols)]`` as a dense array (every row or column
        when None): the small systems the active-set step solves."""
        m, n = self.shape
        if rows is None and cols is None:
            if self._dense is None:
                out = np.zeros((m, n))
                out[self.index, self._col] = self.value
                out.flags.writeable = False
                self._dense = out
            return self._dense
        rmap = np.arange(m) if rows is None else _positions(rows, m)
        cmap = np.arange(n) if cols is None else _positions(cols, n)
        r, c = rmap[self.index], cmap[self._col]
        keep = (r >= 0) & (c >= 0)
        out = np.zeros((m if rows is None else len(rows), n if cols is None else len(cols)))
        out[r[keep], c[keep]] = self.value[keep]
        return out

    def nonzero(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Row, column and value of every entry, column by column."""
        return self.index, self._col, self.value

    def colwise(self):
        """Start, index and value arrays as HiGHS takes a matrix or new columns."""
        return self.start.astype(np.int32), self.index.astype(np.int32), np.ascontiguousarray(self.value)


class _Transposed:
    __slots__ = ("a",)

    def __init__(self, a: Matrix):
        self.a = a

    def __matmul__(self, y: np.ndarray) -> np.ndarray:
        a = self.a
        return np.bincount(a._col, weights=a.value * _vector(y, a.shape[0])[a.index], minlength=a.shape[1]).astype(float, copy=False)


def _positions(ix, size: int) -> np.ndarray:
    """``p`` with ``p[ix[k]] = k`` and ``-1`` elsewhere."""
    p = np.full(size, -1, dtype=np.int64)
    ix = np.asarray(ix, dtype=np.int64)
    p[ix] = np.arange(len(ix))
    return p


def _vector(x, size: int) -> np.ndarray:
    """``x`` as a float vector of ``size`` entries; a ValueError, as numpy
    gives for a dense product, when it has another shape."""
    x = np.asarray(x, dtype=float)
    if x.shape != (size,):
        raise ValueError(f"a vector of {size} entries is needed for this product; got shape {x.shape}")
    return x
