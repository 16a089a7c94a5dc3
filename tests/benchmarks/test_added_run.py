"""Adding a run's rows to a literature results file (`run_routing --add`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from benchmarks.run_routing import added_run, main


def _row(instance: str, seed: int | None, distance: float) -> dict[str, Any]:
    row: dict[str, Any] = {"instance": instance, "ours": {"distance": distance}}
    if seed is not None:
        row["seed"] = seed
    return row


def _doc(date: str, rows: list[dict[str, Any]], suite: str = "vrptw", **meta: Any) -> dict[str, Any]:
    return {"suite": suite, "meta": {"date": date, "peers": {"pyvrp": "0.14.1"},
                                     "instances_at_a_time": 1, **meta}, "results": rows}


def _on_disk(doc: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(doc))


def test_rows_are_added_and_a_rerun_row_replaced_in_the_file_and_its_runs() -> None:
    old = _doc("2026-12-01", [_row("RC1_10_1", 1, 100.0), _row("RC1_10_2", None, 200.0)])
    new = _doc("2026-12-02", [_row("RC1_10_1", 2, 101.0), _row("RC1_10_2", 1, 190.0)])
    doc = _on_disk(added_run(old, new, Path("rc.json")))
    got = [((r["instance"], r.get("seed", 1)), r["ours"]["distance"]) for r in doc["results"]]
    # the re-run row in its place, the new one after: a table rendered from the file keeps its order
    assert got == [(("RC1_10_1", 1), 100.0), (("RC1_10_2", 1), 190.0), (("RC1_10_1", 2), 101.0)]
    runs = doc["meta"]["runs"]
    assert [r["date"] for r in runs] == ["2026-12-01", "2026-12-02"]
    assert runs[0]["rows"] == [["RC1_10_1", 1]]  # its RC1_10_2 row was replaced by the second run
    assert runs[1]["rows"] == [["RC1_10_1", 2], ["RC1_10_2", 1]]
    before = json.dumps(doc)
    third = _on_disk(added_run(doc, _doc("2026-12-03", [_row("RC1_10_1", 1, 99.0)]), Path("rc.json")))
    assert json.dumps(doc) == before  # the file read in is left as it was
    assert [r["rows"] for r in third["meta"]["runs"]] == [[], [["RC1_10_1", 2], ["RC1_10_2", 1]],
                                                         [["RC1_10_1", 1]]]
    assert sorted(r["ours"]["distance"] for r in third["results"]) == [99.0, 101.0, 190.0]
    assert third["meta"]["date"] == "2026-12-01"  # the top-level meta stays the first run's


@pytest.mark.parametrize(("new", "says"), [
    (_doc("d", [], suite="solomon"), "suite 'vrptw', not 'solomon'"),
    (_doc("d", [], instances="vrptw-hg1000", window=120), "instances None, not 'vrptw-hg1000'"),
])
def test_a_run_of_another_kind_is_refused_naming_the_file(new: dict[str, Any], says: str) -> None:
    with pytest.raises(SystemExit, match=rf"rc\.json: {says}"):
        added_run(_doc("d", []), new, Path("rc.json"))


@pytest.mark.parametrize("argv", [["--suite", "ci", "--add"],
                                  ["--suite", "vrptw", "--add"],
                                  ["--suite", "vrptw", "--add", "--out", "/nonexistent/rc.json"]])
def test_add_without_a_file_to_add_to_is_refused(argv: list[str],
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(argv)
    assert "--add needs --suite vrptw or solomon and an existing --out file" in capsys.readouterr().err


@pytest.mark.parametrize(("suite", "flags", "says"), [
    ("solomon", ["--tuning"], "suite 'solomon', not 'vrptw'"),
    ("vrptw", [], "instances 'vrptw-hg1000-tuning', not None"),
    ("vrptw", ["--tuning", "--window", "120"], "window None, not 120"),
])
def test_add_of_another_suite_instance_set_or_window_is_refused_before_any_work(
        suite: str, flags: list[str], says: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "tuning.json"
    out.write_text(json.dumps(_doc("d", [], suite=suite, instances="vrptw-hg1000-tuning", window=None)))
    monkeypatch.setattr("benchmarks.run_routing._pooled", lambda *a: pytest.fail("it ran"))
    with pytest.raises(SystemExit, match=rf"tuning\.json: {says}: nothing added"):
        main(["--suite", "vrptw", "--add", "--out", str(out), *flags])


def test_add_to_a_file_of_another_benchmark_is_refused_before_any_work(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A results file without the routing suites' keys (``suite``, ``meta``), as run_predict's."""
    out = tmp_path / "predict.json"
    out.write_text(json.dumps({"grids": {}, "rates": [0.1]}))
    monkeypatch.setattr("benchmarks.run_routing._pooled", lambda *a: pytest.fail("it ran"))
    with pytest.raises(SystemExit, match=r"predict\.json: suite None, not 'vrptw': nothing added"):
        main(["--suite", "vrptw", "--add", "--out", str(out)])
