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
