"""Instance and plan files: malformed input names the field and the item; the CLI writes
feasible plans, reasons for what it leaves out and (dispatch instances) the lower bound."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numba
import pytest

from api.cli import main
from routing.arrays import kernel_data
from routing.bound import lower_bound
from routing.evaluate import evaluate
from routing.io import problem_from_dict, problem_to_dict, read_instance, read_vrptw
from routing.problem import ProblemError

REPO = Path(__file__).parents[2]
DATA = REPO / "tests" / "data"
SOLOMON = DATA / "solomon"
BASE: dict[str, Any] = json.loads((DATA / "two_crews.instance.json").read_text())


def _broken(change: Any) -> dict[str, Any]:
    inst = copy.deepcopy(BASE)
    change(inst)
    return inst


@pytest.mark.parametrize(("change", "message"), [
    (lambda i: i["orders"][2].pop("service"), r"orders\[2\] \(W3\): missing field 'service'"),
    (lambda i: i["orders"][1].update(service=-5), r"orders\[1\] \(W2\): service must be >= 0, got -5"),
    (lambda i: i["orders"][4].update(skill="hv"), r"orders\[4\] \(W5\): unknown skill 'hv'"),
    (lambda i: i["crews"][0].update(start="dawn"), r"crews\[0\] \(C1\)\.start: must be an integer"),
    (lambda i: i.update(travel={"kind": "matrix", "seconds": [[0, 1], [1, 0]]}),
     r"travel\.seconds: shape \(2, 2\), expected \(8, 8\)"),
    (lambda i: i.pop("horizon"), r"instance: missing field 'horizon'"),
    (lambda i: i["orders"].append(dict(i["orders"][0])), r"orders: id 'W1' appears more than once"),
    (lambda i: i.update(travel={"kind": "teleport"}), r"travel\.kind: must be 'euclidean' or 'matrix'"),
    (lambda i: i.update(shift_work=-60), r"instance\.shift_work: must be a whole .* got -60"),
    (lambda i: i.update(shift_work=1.5), r"instance\.shift_work: must be a whole .* got 1\.5"),
])
def test_malformed_instances_name_the_field_and_item(change: Any, message: str) -> None:
    with pytest.raises(ProblemError, match=message):
        problem_from_dict(_broken(change))


def test_instance_round_trips_through_json() -> None:
    p = read_instance(DATA / "two_crews.instance.json")
    again = problem_from_dict(json.loads(json.dumps(problem_to_dict(p))))
    routes = {"C1": ["W1", "W6"], "C2": ["W3", "W4", "W5", "W2"]}
    assert evaluate(again, routes).cost == evaluate(p, routes).cost
    with_rule = problem_from_dict({**BASE, "shift_work": 900})
    assert problem_from_dict(json.loads(json.dumps(problem_to_dict(with_rule)))).shift_work_s == 900


@pytest.mark.parametrize(("path", "fmt"), [(SOLOMON / "C101.txt", "solomon"),
                                           (REPO / "data" / "vrptw-hg1000" / "C1_10_1.vrp", "vrplib")])
def test_every_reader_gives_the_kernels_the_same_types(path: Path, fmt: str) -> None:
    """A read-only array (a reader's ``broadcast_to``) is another numba type: every kernel would
    compile a second time, minutes on a fresh install."""
    storm = kernel_data(read_instance(DATA / "two_crews.instance.json"))
    assert numba.typeof(kernel_data(read_vrptw(path, fmt))) == numba.typeof(storm)


def test_cli_solve_writes_a_feasible_plan_and_explains_what_it_leaves_out(tmp_path: Path) -> None:
    inst = _broken(lambda i: i["orders"].append(
        {"id": "W7", "x": 10.0, "y": 10.0, "reported": 0, "deadline": 900, "service": 600,
         "skill": "cable", "customers": 4, "priority": 1}))
    inst["crews"].append({"id": "C3", "x": 9e6, "y": 9e6, "start": 0, "end": 100,
                          "skills": ["cable"]})
    path = tmp_path / "i.json"
    path.write_text(json.dumps(inst))
    out = tmp_path / "plan.json"
    assert main(["solve", str(path), "--iterations", "300", "--seed", "3", "-o", str(out)]) == 0
    plan = json.loads(out.read_text())
    p = problem_from_dict(inst)
    assert evaluate(p, plan["routes"]).cost == plan["solver"]["cost"]
    assert plan["solver"]["search"] == "annealing"  # the dispatch objective's search
    assert plan["unassigned"] == ["W7"]
    assert plan["solver"]["unassigned_reasons"]["W7"] == (
        "no crew with the skill can reach it before the end of its shift")
    assert plan["lower_bound"] == lower_bound(p)
    assert 0 < plan["lower_bound"] <= plan["solver"]["cost"]


def test_cli_solve_writes_no_bound_for_a_vrptw_file(tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    assert main(["solve", str(SOLOMON / "C101.txt"), "--format", "solomon", "--iterations", "50",
                 "-o", str(out)]) == 0
    assert "lower_bound" not in json.loads(out.read_text())


def test_cli_solve_reports_a_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "i.json"
    path.write_text("{not json")
    assert main(["solve", str(path), "--seconds", "1", "-o", str(tmp_path / "p.json")]) == 2
    assert "malformed JSON at line 1" in capsys.readouterr().err
