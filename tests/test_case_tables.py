"""Case tables read a column at a time (solver/case.py) give exactly what
reading them a row at a time gives: the same row dicts from a CSV table,
the same routes from a mineral's route entries.  Properties over random
tables, with spaces, empty cells, numbers and text mixed."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import case_dict, mineral
from mineq.solver import case as case_module
from mineq.solver.case import _rows_by_column, _rows_one_by_one, _unflatten, build_case

CELLS = st.sampled_from(["", " ", "R1", " R2 ", "R3\t", "1.5", " 2 ", "-3", "1e3", "none", "nan", "inf", "x y", "#c", "1_000", "é"])


@st.composite
def tables(draw):
    header = draw(st.lists(st.sampled_from(["mineral", "stage", "origin", "destination", "cost", "slope", "note"]), min_size=1, max_size=5, unique=True))
    n = len(header)
    rows = draw(st.lists(st.lists(CELLS, min_size=n, max_size=n), min_size=1, max_size=12))
    if draw(st.booleans()):  # now and then a row of another width
        k = draw(st.integers(0, len(rows) - 1))
        rows[k] = rows[k] + [draw(CELLS)] if draw(st.booleans()) else rows[k][:-1]
    return header, rows


@settings(max_examples=300, deadline=None)
@given(tables())
def test_a_table_read_by_column_is_the_table_read_by_row(table):
    """Numbers come as floats where every cell of a numeric column reads
    as one (as :func:`_unflatten` would read each), otherwise as text;
    empty cells are left out of a row's dict; a row of another width
    leaves the table to the row-at-a-time reading (None)."""
    header, rows = table
    numeric = ("cost", "slope")
    by_column = _rows_by_column(rows, header, "t.csv", numeric)
    if len({len(r) for r in rows}) > 1 or len(rows[0]) != len(header):
        assert by_column is None
        return
    by_row = _rows_one_by_one(rows, header, "t.csv")
    assert by_column is not None and len(by_column) == len(by_row)
    for h in numeric:
        cells = [r.get(h) for r in by_row if h in header]
        read = bool(cells) and all(c is not None for c in cells) and all(_is_float(c) for c in cells)
        for a, b in zip(by_column, by_row):
            if h in b:
                if read:
                    assert type(a[h]) is float and (a[h] == float(b[h]) or (math.isnan(a[h]) and math.isnan(float(b[h]))))
                    b[h] = a[h]
                else:
                    assert a[h] == b[h]
    assert [list(r) for r in by_column] == [list(r) for r in by_row]  # the same keys, in the same order
    for a, b in zip(by_column, by_row):
        assert a.keys() == b.keys() and all(a[k] == b[k] or (isinstance(a[k], float) and math.isnan(a[k])) for k in a)


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _mostly(good, bad):
    """``good`` 29 times in 30: most lists of entries plain, some not."""
    return st.integers(0, 29).flatmap(lambda k: bad if k == 17 else good)


@st.composite
def route_entry(draw):
    origin = draw(_mostly(st.sampled_from(["A", "B", "C"]), st.just("Z")))
    others = [r for r in "ABC" if r != origin]
    e = {"stage": draw(_mostly(st.sampled_from(["mine", "refined"]), st.sampled_from(["smelted", ["mine"]]))),
         "origin": origin, "destination": draw(_mostly(st.sampled_from(others), st.just(origin)))}
    if draw(_mostly(st.just(True), st.just(False))):
        e["cost"] = draw(_mostly(st.one_of(st.floats(0, 5), st.integers(0, 3)), st.sampled_from([-1.0, "none", math.inf, True])))
    for key, value in (("slope", _mostly(st.one_of(st.floats(0, 1), st.just(0)), st.sampled_from([-0.5, math.nan]))),
                       ("confidence", _mostly(st.sampled_from(["reported", "estimated"]), st.sampled_from(["guess", ["reported"]]))), ("source", st.just("s"))):
        if draw(st.booleans()):
            e[key] = draw(value)
    return e


ROUTE = route_entry()


@settings(max_examples=300, deadline=None)
@given(st.lists(ROUTE, min_size=1, max_size=6), st.sampled_from([None, 0.7]))
def test_route_entries_read_by_column_are_the_entries_read_one_by_one(entries, default_cost):
    """A mineral's routes (costs, slopes, their order) are the same read a
    column at a time (every entry plain and none repeated) as one by one;
    anything else goes one by one, with its own checks and messages."""
    def build(one_by_one: bool):
        nodes = [{"stage": s, "region": r, "demand": {"form": "linear", "price": 10.0, "quantity": 1.0, "elasticity": -0.5}, "supply": {"form": "linear", "price": 10.0, "quantity": 1.0, "elasticity": 0.5}} for s in ("mine", "refined") for r in ("A", "B", "C")]
        m = mineral(stages=("mine", "refined"), nodes=nodes, routes=[dict(e) for e in entries], default_cost="none" if default_cost is None else default_cost)
        saved = case_module._plain_routes
        if one_by_one:
            case_module._plain_routes = lambda *a: None
        try:
            mk = build_case(case_dict(["A", "B", "C"], [m])).markets["m"]
            return list(mk.routes.items()), mk.route_slopes
        except Exception as err:  # noqa: BLE001 - the message is what is compared
            return type(err).__name__, str(err)
        finally:
            case_module._plain_routes = saved

    assert build(False) == build(True)
