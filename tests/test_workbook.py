"""The result workbook (`--format xlsx`): written row by row by XlsxWriter,
with the rows that hold nothing left out of the sparse sheets (said in
'about'), missing numbers as empty cells, infinities as words, and no
text turned into a formula."""

from __future__ import annotations

import math

import numpy as np
import pytest
import openpyxl
import xarray as xr

from helpers import DEMO, run
from mineq.solver.results import SPARSE_SHEETS, tables, write


def test_workbook_holds_every_non_empty_row_and_says_what_it_left_out(tmp_path):
    nc = tmp_path / "demo.nc"
    code, text = run("solve", DEMO, "--out", nc, "--quiet")
    assert code == 0, text
    ds = xr.load_dataset(nc)
    ds.attrs["case_description"] = "=HYPERLINK(\"http://x\")"  # text that must stay text
    ds["price"].values[0, 0, 0, 0] = np.inf  # a number a workbook cannot hold
    book = write(ds, tmp_path / "demo.xlsx", fmt="xlsx")
    wb = openpyxl.load_workbook(book)
    want = tables(ds, units=True)
    about = {r[0]: r[1] for r in wb["about"].iter_rows(min_row=2, values_only=True)}
    for name, df in want.items():
        ws = wb[name[:31]]
        rows = ws.max_row - 1
        if name in SPARSE_SHEETS:
            num = df.select_dtypes("number").fillna(0.0)
            assert rows == int((num != 0).any(axis=1).sum())
            assert about[f"{name} rows"].startswith(f"{rows} of {len(df)}")
        else:
            assert rows == len(df)
    cells = [c for ws in wb.worksheets for row in ws.iter_rows() for c in row]
    assert not any(c.data_type == "f" for c in cells)
    assert about["case_description"].startswith("'=")
    nodes = wb["nodes"]
    head = [c.value for c in nodes[1]]
    col = next(i for i, h in enumerate(head) if str(h).startswith("price ["))
    values = [r[col] for r in nodes.iter_rows(min_row=2, values_only=True)]
    assert "inf" in values
    # a NaN price (a node that does not exist at a stage) is an empty cell, never a number
    assert all(v is None or v == "inf" or (isinstance(v, float) and math.isfinite(v)) for v in values)


def test_workbook_money_is_in_million_usd(tmp_path):
    """The demo's minerals are held in kt at USD/kg (1e6 USD per native
    money unit), so a welfare figure in million USD equals its native
    value; the sheet says million USD and keeps the native units."""
    nc = tmp_path / "demo.nc"
    code, text = run("solve", DEMO, "--out", nc, "--quiet")
    assert code == 0, text
    ds = xr.load_dataset(nc)
    wb = openpyxl.load_workbook(write(ds, tmp_path / "demo.xlsx", fmt="xlsx"), read_only=True)
    rows = list(wb["welfare"].iter_rows(values_only=True))
    head = list(rows[0])
    col = head.index("total_welfare [million USD]")
    first = dict(zip(head, rows[1]))
    native = float(ds.total_welfare.sel(scenario=first["scenario"], mineral=first["mineral"], region=first["region"]))
    assert rows[1][col] == pytest.approx(native * 1e6 / 1e6, rel=1e-12)
    assert first["price_unit"] == "USD/kg" and first["quantity_unit"].startswith("kt")
