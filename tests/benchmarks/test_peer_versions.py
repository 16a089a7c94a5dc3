"""The routing benchmark records which release of each peer solver it measured."""

from __future__ import annotations

import numpy as np

from benchmarks.run_routing import package_version


def test_an_installed_package_reports_its_release() -> None:
    assert package_version("numpy") == np.__version__


def test_pyvrp_reports_its_release() -> None:
    version = package_version("pyvrp")
    assert version is not None and version[0].isdigit()


def test_a_missing_package_reports_none() -> None:
    assert package_version("no-such-solver-package") is None
