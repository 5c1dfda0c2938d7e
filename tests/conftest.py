import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


def pytest_configure(config):
    config.addinivalue_line("markers", "kernel: needs the compiled active-set step (models/_polish.c): skipped where it is not built, unless MINEQ_REQUIRE_KERNEL=1 (as CI sets), where it must be")


def pytest_runtest_setup(item):
    if item.get_closest_marker("kernel") is None:
        return
    import mineq.models.active_set as active_set

    if active_set.kernel_path() is None and os.environ.get("MINEQ_REQUIRE_KERNEL") != "1":
        pytest.skip("the compiled active-set step is not built here (pip install . builds it)")
