"""Result files hold origin x destination variables along ``route``
(solver/results.py, ``PACKED``): one entry per route of some market, and
readers get the dense arrays back exactly."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from helpers import DEMO, case_dict, random_linear_market
from mineq.solver.case import build_case, load_case
from hypothesis import given, settings
from hypothesis import strategies as st
from mineq.solver.results import ENGINE, _refill, _refills_exactly, pack_routes, to_dataset, unpack_routes, write
from mineq.solver.run import open_results, solve_case, verify_file


@pytest.fixture(scope="module")
def demo():
    case = load_case(DEMO)
    return case, to_dataset(case, solve_case(case, threads=1))


def test_file_holds_one_entry_per_route_and_reads_back_exactly(demo, tmp_path):
    case, ds = demo
    path = write(ds, tmp_path / "r.nc")
    raw = xr.load_dataset(path, engine=ENGINE)
    # every route of every market once (a route's cost is always a number)
    assert raw.sizes["route"] == sum(len(mk.routes) for mk in case.markets.values())
    for v in ("flow", "export_tax_per_unit", "mip_rent_per_unit", "tariff_per_unit", "quota_rent_per_unit", "transport_cost", "transport_cost_slope"):
        assert raw[v].dims[-1] == "route" and v in ds
    assert raw.supply_share.dims == ("scenario", "supply_entry")
    back = open_results(path)
    for v in ds.data_vars:
        assert back[v].dims == ds[v].dims, v
        assert back[v].equals(ds[v]), v
    # a labelled selection with xarray alone, as the README shows
    mk = case.markets["rare_earths"]
    (s, o, d), cost = next(iter(mk.routes.items()))
    sel = raw.transport_cost.where((raw.route_mineral == "rare_earths") & (raw.route_stage == s) & (raw.route_origin == o) & (raw.route_destination == d), drop=True)
    assert sel.values.tolist() == [cost]


def test_file_grows_with_routes_not_regions_squared(tmp_path):
    """A 150-region market with sparse routes (ring and hubs,
    tests/helpers.py): the dense layout holds 150 x 150 cells per variable,
    the route layout one per route, and the file shrinks by more than the
    share of pairs that are routes."""
    regions, mineral = random_linear_market(150, np.random.default_rng(4), dense=False)
    case = build_case(case_dict(regions, [mineral], name="sparse"))
    ds = to_dataset(case, solve_case(case, threads=1))
    routes = len(case.markets["m"].routes)
    assert routes < 0.1 * 150 * 149
    packed = write(ds, tmp_path / "packed.nc")
    dense = tmp_path / "dense.nc"
    ds.to_netcdf(dense, engine=ENGINE)
    assert xr.load_dataset(packed).sizes["route"] == routes
    assert packed.stat().st_size < dense.stat().st_size * 0.5
    assert verify_file(packed).ok and verify_file(dense).ok


def test_pack_keeps_a_share_dense_when_it_would_not_come_back(demo):
    """Left-out shares come back as 0 (node with supply) or NaN; a share
    that breaks that rule stays dense rather than change."""
    _, ds = demo
    odd = ds.copy(deep=True)
    share = odd.supply_share.values
    # an origin with share 0 in every scenario (left out of the file),
    # made NaN in one scenario's node that has shares: not 0, and not a
    # whole NaN row
    cell = np.argwhere((share == 0).all(axis=0))[0]
    share[(0, *cell)] = np.nan
    packed = pack_routes(odd)
    assert packed.supply_share.dims == odd.supply_share.dims
    assert unpack_routes(packed).supply_share.equals(odd.supply_share)


def test_stored_inputs_are_compressed_and_come_back_exactly(tmp_path):
    """The case inputs are stored as compressed UTF-8 bytes (variable
    ``case_json``), not as an uncompressed attribute, and numbers are
    compressed: a 150-region market's file (sparse routes) is smaller than
    the same file with uncompressed numbers and inputs by more than half
    the inputs' JSON text; readers give the text back byte for byte, so it
    still hashes to ``input_hash``."""
    from mineq.solver.case import digest_of

    regions, mineral = random_linear_market(150, np.random.default_rng(4), dense=False)
    case = build_case(case_dict(regions, [mineral], name="sparse"))
    ds = to_dataset(case, solve_case(case, threads=1))
    text = case.canonical()
    path = write(ds, tmp_path / "r.nc")
    plain = tmp_path / "plain.nc"
    pack_routes(ds).to_netcdf(plain, engine=ENGINE)
    raw = xr.load_dataset(path, engine=ENGINE)
    assert "case_json" not in raw.attrs and raw.case_json.dtype == np.uint8
    assert raw.case_json.encoding["zlib"] and raw.flow.encoding["zlib"]
    assert path.stat().st_size < plain.stat().st_size - 0.5 * len(text.encode())
    assert raw.case_json.values.tobytes().decode() == text
    back = open_results(path)
    assert back.attrs["case_json"] == text and digest_of(back.attrs["case_json"]) == back.attrs["input_hash"]
    assert "case_json" not in back.variables
    assert verify_file(path).ok


def test_a_file_of_the_earlier_layout_reads_and_verifies(demo, tmp_path):
    """A file as mineq wrote it before: inputs in the attribute, nothing
    compressed, routes dense (origin x destination) or along ``route``."""
    _, ds = demo
    for name, old in (("dense.nc", ds), ("routes.nc", pack_routes(ds))):
        path = tmp_path / name
        old.to_netcdf(path, engine=ENGINE)
        assert "case_json" in xr.load_dataset(path).attrs
        back = open_results(path)
        assert back.attrs == ds.attrs
        for v in ds.data_vars:
            assert back[v].equals(ds[v]), v
        assert verify_file(path).ok


def test_damaged_stored_inputs_are_named(demo, tmp_path):
    from mineq.solver.errors import MineqError

    _, ds = demo
    path = write(ds, tmp_path / "r.nc")
    raw = xr.load_dataset(path, engine=ENGINE)
    raw["case_json"].values[:2] = [0xFF, 0xFE]
    bad = tmp_path / "bad.nc"
    raw.to_netcdf(bad)
    with pytest.raises(MineqError, match="case_json.*not UTF-8 text.*edited or is damaged"):
        open_results(bad)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([np.nan, 0.0, -0.0, 1.5, -2.0, np.inf]), min_size=36, max_size=36), st.lists(st.booleans(), min_size=18, max_size=18))
def test_pack_check_agrees_with_refilling(values, extra):
    """The packing's exactness check (no dense copy) says what refilling
    and comparing says: for shares of two scenarios over 1 x 2 x 3 x 3
    entries, with or without entries beyond the nonzero ones kept."""
    shape = (1, 2, 3, 3)
    a = np.array(values).reshape((2, *shape))
    mask = (np.isfinite(a) & (a != 0)).any(axis=0) | np.array(extra).reshape(shape)
    idx = np.nonzero(mask)
    dense = _refill((2,), shape, idx, a[(Ellipsis, *idx)], "row_zero")
    assert _refills_exactly(a, idx, shape) == np.array_equal(dense, a, equal_nan=True)


def _same(a: xr.Dataset, b: xr.Dataset) -> None:
    """Identical variables, coordinates and attributes, in any order."""
    assert set(a.variables) == set(b.variables)
    xr.testing.assert_identical(a, b[list(a.variables)])


def test_file_layout_is_the_packed_dense_dataset(demo):
    """``to_dataset(layout="file")`` gathers route numbers along the
    entries without the dense arrays; it must be exactly
    :func:`pack_routes` of the dense Dataset (same entries, order, labels,
    values and fills), and the dense one must come back from it.  The
    demo's scenarios cover a minimum import price, a floor, an export
    quota and markets a scenario leaves alone (repeated results)."""
    case, dense = demo
    results = solve_case(case, threads=1)
    packed = to_dataset(case, results, layout="file")
    assert "route" in packed.dims and "supply_entry" in packed.dims
    _same(packed, pack_routes(dense))
    _same(unpack_routes(packed), dense)


def test_shares_that_would_not_refill_stay_dense():
    """A node's shares are finite and sum to one, or NaN
    (statistics.supply_shares); a row that is neither (here finite zeros
    only, and a part-NaN row) cannot be refilled from its entries, so the
    shares come back dense, as they were."""
    from mineq.solver.results import _gathered_shares

    grid = (1, 1, 2, 2)
    ok = np.array([[0.25, 0.75], [np.nan, np.nan]])
    vals, ent = _gathered_shares([(0, 0, ok, np.array([0, 0]), np.array([0, 1]))], grid, 1)
    assert ent is not None and vals.tolist() == [[0.25, 0.75]]
    for odd in (np.array([[0.0, 0.0], [0.5, 0.5]]), np.array([[1.0, np.nan], [0.5, 0.5]])):
        vals, ent = _gathered_shares([(0, 0, odd, np.array([0, 0]), np.array([0, 1]))], grid, 1)
        assert ent is None and np.array_equal(vals[0, 0, 0], odd, equal_nan=True)


def test_route_labels_with_any_characters_read_back_as_text(tmp_path):
    """Route labels are written as UTF-8 bytes, each distinct label
    encoded once (results._label_bytes); regions and minerals named with
    accents, spaces and non-Latin letters come back as the same text, and
    select with xarray alone."""
    names = ["Côte d'Ivoire", "São Tomé", "中国", "USA"]
    regions, mineral = random_linear_market(4, np.random.default_rng(2), dense=True)
    named = dict(zip(regions, names))
    for e in mineral["nodes"]:
        e["region"] = named[e["region"]]
    for e in mineral["routes"]:
        e["origin"], e["destination"] = named[e["origin"]], named[e["destination"]]
    case = build_case(case_dict(names, [mineral], name="labels"))
    ds = to_dataset(case, solve_case(case, threads=1))
    path = write(ds, tmp_path / "labels.nc")
    raw = xr.load_dataset(path, engine=ENGINE)
    assert set(raw.route_origin.values.tolist()) == set(names)
    o, dest = "中国", "Côte d'Ivoire"
    sel = raw.transport_cost.where((raw.route_origin == o) & (raw.route_destination == dest), drop=True)
    assert sel.values.tolist() == [ds.transport_cost.sel(mineral="m", origin=o, destination=dest).item()]
    _same(open_results(path)[list(ds.data_vars)], ds[list(ds.data_vars)])


def test_entries_naming_unknown_labels_or_listed_twice_are_refused(demo):
    """Route entries are placed by their labels (results._entry_positions,
    shared by unpack_routes and RouteSlabs): a label the Dataset does not
    have, or a combination listed twice, is a damaged or hand-edited file,
    named as such, never a route put in the wrong cell."""
    from mineq.solver.errors import MineqError
    from mineq.solver.results import RouteSlabs

    _, ds = demo
    packed = pack_routes(ds)
    bad = packed.assign_coords(route_origin=("route", np.where(np.arange(packed.sizes["route"]) == 3, "Atlantis", packed.route_origin.values).astype(str)))
    # every entry moved one place on, the first kept: entry 0 is listed twice
    twice = packed.assign_coords({f"route_{d}": ("route", np.concatenate([packed[f"route_{d}"].values[:1], packed[f"route_{d}"].values[:-1]])) for d in ("mineral", "stage", "origin", "destination")})
    for read in (unpack_routes, lambda d: RouteSlabs(d, "flow")):
        with pytest.raises(MineqError, match="route_origin' names 'Atlantis'.*damaged or was edited by hand"):
            read(bad)
        with pytest.raises(MineqError, match="lists the combination .* more than once"):
            read(twice)


@pytest.mark.parametrize("keep", ["ensemble", ("flow", "supply_share", "price"), ("transport_cost", "production_hhi", "status")])
def test_a_dataset_of_some_variables_holds_them_as_the_whole_one_does(demo, keep):
    """``to_dataset(..., keep=...)`` (an ensemble's draw keeps
    :data:`mineq.solver.ensemble.KEPT`) leaves out what no kept variable
    needs, and each kept variable is the whole Dataset's, value for value,
    with its attributes; the whole Dataset's other variables are absent."""
    from mineq.solver.ensemble import KEPT

    case, _ = demo
    res = solve_case(case, threads=1)
    keep = KEPT if keep == "ensemble" else keep
    full = to_dataset(case, res, inputs=False)
    lean = to_dataset(case, res, inputs=False, keep=keep)
    assert set(lean.data_vars) == {v for v in keep if v in full}
    assert len(full.data_vars) > 2 * len(lean.data_vars)
    xr.testing.assert_identical(lean[list(lean.data_vars)], full[list(lean.data_vars)])
    assert lean.attrs == full.attrs
