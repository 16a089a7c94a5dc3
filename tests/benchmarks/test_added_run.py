"""Adding a run's rows to a literature results file (`run_routing --add`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.run_routing import added_run, main


def _row(instance: str, seed: int, distance: float) -> dict:
    return {"instance": instance, "seed": seed, "ours": {"distance": distance}}


def _doc(date: str, rows: list[dict], suite: str = "vrptw") -> dict:
    return {"suite": suite, "meta": {"date": date, "peers": {"pyvrp": "0.14.1"},
                                     "instances_at_a_time": 1}, "results": rows}


def test_rows_are_added_and_a_rerun_row_replaced() -> None:
    old = _doc("2026-12-01", [_row("RC1_10_1", 1, 100.0), _row("RC1_10_2", 1, 200.0)])
    new = _doc("2026-12-02", [_row("RC1_10_2", 1, 190.0), _row("RC1_10_1", 2, 101.0)])
    doc = added_run(old, new, Path("rc.json"))
    got = {(r["instance"], r["seed"]): r["ours"]["distance"] for r in doc["results"]}
    assert got == {("RC1_10_1", 1): 100.0, ("RC1_10_2", 1): 190.0, ("RC1_10_1", 2): 101.0}
    assert [r["date"] for r in doc["meta"]["runs"]] == ["2026-12-01", "2026-12-02"]
    assert doc["meta"]["runs"][1]["rows"] == [("RC1_10_1", 2), ("RC1_10_2", 1)]
    third = added_run(doc, _doc("2026-12-03", [_row("RC1_10_1", 3, 99.0)]), Path("rc.json"))
    assert [r["date"] for r in third["meta"]["runs"]] == ["2026-12-01", "2026-12-02", "2026-12-03"]
    assert len(third["results"]) == 4


def test_a_run_of_another_suite_is_refused_naming_the_file() -> None:
    with pytest.raises(SystemExit, match=r"rc\.json: suite 'vrptw', not 'solomon'"):
        added_run(_doc("d", []), _doc("d", [], suite="solomon"), Path("rc.json"))


@pytest.mark.parametrize("argv", [["--suite", "ci", "--add"],
                                  ["--suite", "vrptw", "--add"],
                                  ["--suite", "vrptw", "--add", "--out", "/nonexistent/rc.json"]])
def test_add_without_a_file_to_add_to_is_refused(argv: list[str],
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(argv)
    assert "--add needs --suite vrptw or solomon and an existing --out file" in capsys.readouterr().err
