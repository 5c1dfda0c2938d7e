"""What a market's welfare program will take in memory, known before it is
built (:class:`mineq.models.program.MarketModel`).

The program's matrix is stored sparse (:mod:`mineq.models.sparse`), so
it grows with its non-zeros: a curve block enters one row, a flow two.
What is still dense is the active-set system polish solves
(:func:`mineq.models.active_set.polish_python`): the free columns and the
active rows, square.  At an equilibrium few flows carry anything (a basic
solution has at most one per row), so its side is about the columns that
are not flows plus twice the rows.  A market of 2000 regions trading
every way (2000 rows, 4 million columns) takes some 4 GiB to solve; dense
it took 60 GiB, and died with a ``MemoryError`` minutes into building it.
The figures here come from counts alone (nodes, curve blocks, processes,
routes), so a case that cannot fit is refused before anything is solved.
``tests/test_program_size.py`` measures the peak of a mid-size market's
build and solve against :attr:`ProgramSize.bytes`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

#: bytes per non-zero: the program's own sparse copy (value, row and
#: column: 24) and the triplets it is built from, sorted and summed
#: (some 60), and HiGHS's copies (index and value, row- and column-wise,
#: and its factorisation's fill: 64)
PER_NONZERO = 150
#: bytes per column outside the matrix: some twenty float vectors (costs,
#: bounds, Hessian, solutions, scales) in the program, the verifier and
#: the result, and HiGHS's own copy of them
PER_COLUMN = 400
#: dense copies of the active-set system alive at once: the system, its
#: LU factors (or the least-squares step's work arrays), and the block of
#: the matrix on the active rows and free columns it is filled from
KKT_COPIES = 3


@dataclass(frozen=True)
class ProgramSize:
    market: str
    rows: int
    columns: int
    nonzeros: int
    #: columns that are flows (one per allowed route)
    flows: int = 0

    @property
    def kkt_side(self) -> int:
        """Side of the active-set system polish solves, at most: every
        column that is not a flow, a flow per row, and the rows."""
        return self.columns - self.flows + 2 * self.rows

    @property
    def dense_bytes(self) -> int:
        """What is still dense at the peak: the active-set system (side
        :attr:`kkt_side`, :data:`KKT_COPIES` copies).  (The compiled step
        takes the matrix by its nonzeros since session 20; it had a dense
        copy of it, kept and packed for each call.)"""
        return KKT_COPIES * 8 * self.kkt_side**2

    @property
    def bytes(self) -> int:
        """Peak memory of one solve of the program (an estimate from the
        counts above)."""
        return self.dense_bytes + PER_COLUMN * self.columns + PER_NONZERO * self.nonzeros

    def describe(self) -> str:
        return f"{self.rows:,} rows × {self.columns:,} columns with {self.nonzeros:,} non-zeros (about {gib(self.bytes)} to solve, {gib(self.dense_bytes)} of it the dense active-set system)"


def program_size(market) -> ProgramSize:
    """Rows, columns and non-zeros of the baseline program of ``market``.

    Columns: one per curve block (a step curve has one per step) and one
    per allowed route; rows: one balance row per node.  A scenario adds a
    row or column per floored, credited, quota or origin-ruled item, a
    few against the nodes and routes counted here."""
    blocks = 0
    nonzeros = 0
    for curve in list(market.supply.values()) + list(market.demand.values()):
        k = len(curve.blocks())
        blocks += k
        nonzeros += k
    for p in market.processes:
        k = len(p.cost.blocks())
        blocks += k
        nonzeros += 2 * k  # output at one node, input at the other
    routes = len(market.route_list)
    return ProgramSize(market.name, len(market.nodes), blocks + routes, nonzeros + 2 * routes, routes)


def available_memory() -> int:
    """Bytes this process may still allocate: the machine's available
    memory, or the cgroup's limit minus its use where that is smaller (a
    container or a batch job); ``MINEQ_MEMORY`` (bytes, or with a K/M/G/T
    suffix) overrides both, for a machine shared with other jobs."""
    text = os.environ.get("MINEQ_MEMORY", "").strip()
    if text:
        return parse_bytes(text)
    import psutil

    avail = int(psutil.virtual_memory().available)
    try:
        with open("/sys/fs/cgroup/memory.max") as f:
            limit = f.read().strip()
        if limit != "max":
            with open("/sys/fs/cgroup/memory.current") as f:
                avail = min(avail, int(limit) - int(f.read().strip()))
    except (OSError, ValueError):
        pass
    return max(0, avail)


def parse_bytes(text: str) -> int:
    """``'512M'``, ``'2G'``, ``'1e9'``: bytes (powers of 1024 for suffixes)."""
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    t = text.strip().upper().removesuffix("B").removesuffix("I")
    factor = units.get(t[-1:], 1)
    try:
        value = float(t[:-1] if t[-1:] in units else t) * factor
    except ValueError:
        raise ValueError(f"MINEQ_MEMORY is '{text}'; expected a number of bytes, optionally with a K, M, G or T suffix (e.g. 8G)") from None
    return int(value)


def gib(n: float) -> str:
    """``n`` bytes for a reader: in KiB, MiB, GiB or TiB."""
    for unit, size in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n / 1024:.1f} KiB"
