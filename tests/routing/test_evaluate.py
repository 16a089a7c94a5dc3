"""The evaluator on plans computed by hand, and the rules it enforces."""

from __future__ import annotations

from pathlib import Path

import pytest

from routing.evaluate import PlanError, evaluate, unassigned_reason
from routing.io import read_instance

DATA = Path(__file__).parents[1] / "data"


def test_hand_computed_plan() -> None:
    p = read_instance(DATA / "two_crews.instance.json")
    # 36 km/h, detour 1: one second per 10 m.
    # C1 (0,0) t=0 -> W1 (1000,0): a=100, f=1900, cost 120*(1900+600) + 0 (on time)
    #   -> W6 (2500,1500): leg 212 (2121.3 m), a=2112, late 312 s, f=4512: 60*(4512+900) + 100*1*312
    # C2 (3000,0) t=600 -> W3 (3000,1000): leg 100, a=max(700,1200)=1200, f=2100: 8*(2100+300)
    #   -> W4 (2000,0): leg 141, a=2241, f=3441: 30*3441 -> W5 (500,500): leg 158, a=3599,
    #   late 799, f=3899: 1*(3899-100) + 100*799 -> W2 (0,2000): leg 158, a=4057, late 1357,
    #   f=4657: 3*4657 + 100*10*1357
    plan = {"C1": ["W1", "W6"], "C2": ["W3", "W4", "W5", "W2"]}
    ev = evaluate(p, plan)
    expected = (120 * 2500 + 60 * 5412 + 100 * 312 + 8 * 2400 + 30 * 3441
                + 3799 + 100 * 799 + 3 * 4657 + 1000 * 1357)
    assert ev.arrival_s == {"W1": 100, "W6": 2112, "W3": 1200, "W4": 2241, "W5": 3599, "W2": 4057}
    assert ev.cost == expected
    assert ev.travel_s == 100 + 212 + 100 + 141 + 158 + 158
    assert ev.on_time_rate == pytest.approx(3 / 6)  # W1, W3, W4
    assert ev.critical_on_time_rate == 0.0


def test_unassigned_order_costs_as_if_reached_at_the_horizon() -> None:
    p = read_instance(DATA / "two_crews.instance.json")
    full = evaluate(p, {"C1": ["W1", "W6"], "C2": ["W3", "W4", "W5", "W2"]})
    partial = evaluate(p, {"C1": ["W1", "W6"], "C2": ["W3", "W4", "W5"]})
    w2 = 3 * (20000 + 600 - 0) + 100 * 10 * (20000 - 2700)
    assert partial.cost == full.cost - (3 * 4657 + 1000 * 1357) + w2
    assert partial.unassigned == 1


@pytest.mark.parametrize(("routes", "message"), [
    ({"C2": ["W1"]}, "crew lacks the skill of order W1"),
    ({"C1": ["W1", "W1"]}, "order W1 is planned twice"),
    ({"C9": []}, "unknown crew 'C9'"),
    ({"C1": ["W99"]}, "unknown order 'W99'"),
])
def test_rule_breaking_plans_are_refused(routes: dict[str, list[str]], message: str) -> None:
    p = read_instance(DATA / "two_crews.instance.json")
    with pytest.raises(PlanError, match=message):
        evaluate(p, routes)


def test_unassigned_reasons_name_the_cause() -> None:
    p = read_instance(DATA / "two_crews.instance.json")
    assert unassigned_reason(p, 0) == "serving it would delay other orders more than leaving it costs"
