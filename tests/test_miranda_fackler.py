"""Miranda & Fackler (2002) three-country spatial equilibrium (CompEcon demo).

Data and the published solution are in ../shared/examples/; a copy lives in
tests/data so that the tests run from a clean clone without shared/.
"""

import json
from pathlib import Path

import pytest

from helpers import flow_value, lin, mineral, node_value, solve_one

DATA = json.loads((Path(__file__).parent / "data" / "mf_compecon_3country_spe.json").read_text())
REGIONS = DATA["inputs"]["regions"]
R = "refined"


def _market(cost_reading="labelled", trade=True):
    inp = DATA["inputs"]
    nodes = [
        {"stage": R, "region": r,
         "demand": lin(inp["inverse_demand"][r]["intercept"], inp["inverse_demand"][r]["slope"]),
         "supply": lin(inp["inverse_supply"][r]["intercept"], inp["inverse_supply"][r]["slope"])}
        for r in REGIONS
    ]
    routes = []
    table = inp["transport_cost_table_as_published"]
    if trade:
        for o in REGIONS:
            for d in REGIONS:
                if o == d:
                    continue
                # labelled: rows are FROM; the notebook's code applies the transpose
                src, dst = (o, d) if cost_reading == "labelled" else (d, o)
                routes.append({"origin": o, "destination": d, "cost": float(table[f"from_{src}"][f"to_{dst}"])})
    return solve_one(REGIONS, mineral(nodes=nodes, routes=routes))


@pytest.mark.parametrize("reading", ["labelled", "transposed"])
def test_published_prices_and_net_exports(reading):
    """Prices 24, 27, 30 and net exports 6, 3, -9 are unique under either
    reading of the cost table (see the data file's caveat)."""
    mk, res = _market(reading)
    assert res.ok
    sol = res.solution
    pub = DATA["published_solution"]["trade_equilibrium"]
    for r in REGIONS:
        i = mk.node_index(R, r)
        assert sol.price[i] == pytest.approx(pub["prices"][r], abs=1e-6)
        assert sol.supply[i] - sol.demand[i] == pytest.approx(pub["net_exports"][r], abs=1e-6)


def test_flows_under_labelled_reading():
    """Under the labelled reading the flows are unique: 1->2 carries 6 and
    2->3 carries 9 (arcs 1->2 and 2->3 at parity, 1->3 slack)."""
    mk, res = _market("labelled")
    sol = res.solution
    assert flow_value(mk, sol, R, "country1", "country2") == pytest.approx(6, abs=1e-6)
    assert flow_value(mk, sol, R, "country2", "country3") == pytest.approx(9, abs=1e-6)
    assert flow_value(mk, sol, R, "country1", "country3") == pytest.approx(0, abs=1e-6)


def test_published_autarky():
    """With no routes each country clears alone: the published autarky."""
    mk, res = _market(trade=False)
    aut = DATA["published_solution"]["autarky"]
    for r in REGIONS:
        assert node_value(mk, res.solution.price, R, r) == pytest.approx(aut["prices"][r], abs=1e-6)
        assert node_value(mk, res.solution.demand, R, r) == pytest.approx(aut["quantities"][r], abs=1e-6)
