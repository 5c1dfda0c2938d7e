"""Figures are made without numpy warnings (issue 22): a mineral with no
value along the swept dimension ranks last, silently."""

import warnings

import numpy as np
import xarray as xr

from mineq.solver.plot import top_movers


def test_top_movers_with_an_all_nan_mineral_warns_nothing():
    da = xr.DataArray(np.array([[1.0, 2.0, 3.0], [np.nan, np.nan, np.nan], [5.0, 5.0, 5.5]]), dims=("mineral", "sweep"), coords={"mineral": ["a", "gone", "c"]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        order = top_movers(da, "sweep")
    # relative ranges: a 2/3, c 0.5/5.5; 'gone' has none and is not shown
    assert order == ["a", "c"]


def test_sweep_panel_of_far_apart_prices_is_an_index(tmp_path):
    """Prices near 1e8 and near 200 share a panel only as indices (first
    point = 100), so neither line is flattened; fractions stay as they are."""
    import matplotlib

    matplotlib.use("Agg")
    from mineq.solver.plot import sweep_figure

    sweep = np.array([1.0, 1.1, 1.2])
    price = np.array([[[1e8, 1.1e8, 1.2e8]], [[200.0, 210.0, 230.0]]])  # mineral, region, sweep
    pts = xr.Dataset(
        {"price": (("mineral", "region", "sweep"), price, {"units": "price unit"}),
         "net_import_reliance": (("mineral", "region", "sweep"), np.array([[[0.5, 0.4, 0.3]], [[0.9, 0.9, 0.8]]]), {"units": "fraction"}),
         "mineral_price_unit": (("mineral",), np.array(["USD/t", "USD/t"])),
         "mineral_quantity_unit": (("mineral",), np.array(["t Rb", "t barite"]))},
        coords={"mineral": ["rubidium", "barite"], "region": ["USA"], "sweep": sweep},
    )
    import matplotlib.pyplot as plt

    made = []
    real = plt.Figure.savefig

    def keep(fig, *a, **k):
        made.append([[line.get_ydata().tolist() for line in ax.get_lines()] + [ax.get_ylabel()] for ax in fig.axes])
        return real(fig, *a, **k)

    plt.Figure.savefig = keep
    try:
        sweep_figure(pts, ["price[USA]", "net_import_reliance[USA]"], tmp_path / "s.png")
    finally:
        plt.Figure.savefig = real
    (price_panel, nir_panel) = made[0]
    assert price_panel[-1].endswith("index (first point = 100)")
    assert price_panel[0] == [100.0, 110.00000000000001, 120.0] or np.allclose(price_panel[0], [100, 110, 120])
    assert np.allclose(price_panel[1], [100, 105, 115])
    assert np.allclose(nir_panel[0], [0.5, 0.4, 0.3]) and "index" not in nir_panel[-1]
