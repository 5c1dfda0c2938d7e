"""Result files hold origin x destination variables along ``route``
(solver/results.py, ``PACKED``): one entry per route of some market, and
readers get the dense arrays back exactly."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from helpers import DEMO, case_dict, random_linear_market
from mineq.solver.case import build_case, load_case
from mineq.solver.results import ENGINE, pack_routes, to_dataset, unpack_routes, write
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
