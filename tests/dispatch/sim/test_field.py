"""The simulated field on a tiny feeder: the call-taker's triage (not when the utility's supply
is out too), faults still to come keeping the run going, a responder's visit (fixing
what it may, reporting the rest), a repair crew reporting what is still open below, and the
independent check that nobody works outside its shift."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dispatch.crews import Crew, CrewRole
from dispatch.events import Assign, CallReceived, CrewArrived, Finding, FirstResponseDone, RepairFinished
from dispatch.sim.field import FieldParams, FieldSim
from dispatch.sim.world import World, WorldFault
from grid_model.storm import Call
from tests.grid_model.feeders import TWO_FAULTS_IN_SERIES, build

CUSTOMERS = ["C1", "C2", "C3", "C4", "C5"]


def _field(faults: list[WorldFault], crews: list[Crew], **params: object) -> tuple[FieldSim, dict[str, int]]:
    net = build(TWO_FAULTS_IN_SERIES)
    idx = net.index_of()
    nodes = [idx[c] for c in CUSTOMERS]
    customers = pd.DataFrame({"node_idx": nodes, "customer_id": CUSTOMERS,
                              "meter_id": [f"M{c}" for c in CUSTOMERS]})
    world = World(net, np.array(nodes), faults)
    field = FieldSim(world, crews, customers, params=FieldParams(**params), drive_shifts=False,  # type: ignore[arg-type]
                     until_s=86_400)
    return field, idx


def _crew(crew_id: str, skills: set[str], role: CrewRole = CrewRole.REPAIR) -> Crew:
    return Crew(crew_id, "D1", 0.0, 0.0, frozenset(skills), 0, 16.0, role=role)


def _drain(field: FieldSim, until: int) -> list[object]:
    out = []
    while (ev := field.next_event(until)) is not None:
        out.append(ev)
    return out


def test_a_customer_asked_to_reset_their_own_breaker_is_settled_on_the_phone() -> None:
    net = build(TWO_FAULTS_IN_SERIES)
    idx = net.index_of()
    own = WorldFault(10, idx["C3"], idx["C3"], 900, "lv", customer_side=True)
    field, idx = _field([own], [], phone_reset_share=1.0)
    field.add_outside([CallReceived(100, Call("K1", 100, customer_id="C3")),
                       CallReceived(110, Call("K2", 110, customer_id="C4"))])
    first, second = _drain(field, 200)
    assert isinstance(first, CallReceived) and first.triage == "customer_reset"
    assert isinstance(second, CallReceived) and second.triage == ""  # C4's trouble is not its own
    assert not field.world.own_fault(idx["C3"]) and field.world.customer_side_s[idx["C3"]] == 90


def test_a_caller_whose_supply_is_out_besides_their_own_breaker_is_not_settled_on_the_phone() -> None:
    """Resetting their breaker does not bring C3's supply back when the transformer above is out
    too: the call stands (it used to be settled on the phone: no order, no callback)."""
    net = build(TWO_FAULTS_IN_SERIES)
    idx = net.index_of()
    own = WorldFault(10, idx["C3"], idx["C3"], 900, "lv", customer_side=True)
    transformer = WorldFault(20, idx["T3"], idx["T3"], 7200, "mv")
    field, idx = _field([own, transformer], [], phone_reset_share=1.0)
    field.add_outside([CallReceived(100, Call("K1", 100, customer_id="C3"))])
    (call,) = [ev for ev in _drain(field, 200) if isinstance(ev, CallReceived)]
    assert call.triage == ""
    assert not field.world.own_fault(idx["C3"]) and field.world.is_dark(idx["C3"])


def test_the_field_is_busy_until_every_fault_has_happened() -> None:
    """A fault nobody will report still has to happen: the run goes on until it has (it used
    to stop once the work in hand was done, and a later fault never happened)."""
    net = build(TWO_FAULTS_IN_SERIES)
    idx = net.index_of()
    field, idx = _field([WorldFault(50_000, idx["SD1"], idx["SD1"], 3600, "lv")], [])
    assert field.busy
    _drain(field, 60_000)
    assert not field.busy and field.world.is_dark(idx["C1"])
    field.world.finalize(80_000)
    assert field.world.dark_at_end == 2 and field.world.dark_at_end_s == 2 * 30_000
    assert field.world.outage_s[idx["C1"]] == 30_000


def test_a_responder_fixes_what_it_may_and_reports_what_it_found() -> None:
    net = build(TWO_FAULTS_IN_SERIES)
    idx = net.index_of()
    faults = [WorldFault(0, idx["SD3"], idx["SD3"], 1200, "lv"),  # minor: a responder re-connects it
              WorldFault(0, idx["T3"], idx["T3"], 7200, "mv")]   # the transformer: a repair crew's
    responder = _crew("FR", {"lv"}, CrewRole.FIRST_RESPONDER)
    field, idx = _field(faults, [responder], assess_s=(900, 900), estimate_spread=0.0)
    _drain(field, 0)
    field.hear([Assign(0, "W1", "FR", 600, "W1-F1", "first_response", idx["SD3"], "")])
    (arrived,) = _drain(field, 600)
    assert arrived == CrewArrived(600, "FR", "W1-F1")
    field.accepted(arrived)
    (report,) = _drain(field, 10_000)
    assert isinstance(report, FirstResponseDone) and report.t_s == 600 + 900 + 1200
    assert set(report.findings) == {Finding("SD3", "lv", 0, fixed=True), Finding("FU-T3", "mv", 7200)}
    assert field.world.is_dark(idx["C3"])  # the drop is back, but the transformer still holds it dark


def test_a_repair_crew_reports_what_is_still_open_below() -> None:
    net = build(TWO_FAULTS_IN_SERIES)
    idx = net.index_of()
    faults = [WorldFault(0, idx["J3"], idx["J3"], 3600, "mv"),
              WorldFault(0, idx["T3"], idx["T3"], 7200, "mv")]
    crew = _crew("R1", {"mv"})
    field, idx = _field(faults, [crew], estimate_spread=0.0)
    _drain(field, 0)
    field.hear([Assign(0, "W1", "R1", 300, "W1-R1", "repair", idx["J3"], "mv")])
    (arrived,) = _drain(field, 300)
    field.accepted(arrived)
    (done,) = _drain(field, 10_000)
    assert isinstance(done, RepairFinished) and done.t_s == 300 + 3600 and done.restored_nodes == (idx["J3"],)
    assert done.findings == (Finding("FU-T3", "mv", 7200),)


def test_a_repair_crew_closes_only_what_its_skills_cover_and_reports_the_rest_at_the_element() -> None:
    """The transformer has an MV and an LV fault behind its fuse: an MV-only crew closes the
    MV one and reports the LV one at the same element, still dark (the element used to count as
    restored with the LV fault left open, and nobody was told)."""
    net = build(TWO_FAULTS_IN_SERIES)
    idx = net.index_of()
    faults = [WorldFault(0, idx["T3"], idx["T3"], 3600, "mv"),
              WorldFault(0, idx["T3"], idx["T3"], 1800, "lv")]
    field, idx = _field(faults, [_crew("R1", {"mv"})], estimate_spread=0.0)
    _drain(field, 0)
    field.hear([Assign(0, "W1", "R1", 300, "W1-R1", "repair", idx["T3"], "mv")])
    (arrived,) = _drain(field, 300)
    field.accepted(arrived)
    (done,) = _drain(field, 10_000)
    assert isinstance(done, RepairFinished) and done.restored_nodes == ()
    assert done.findings == (Finding("FU-T3", "lv", 1800),)
    assert field.world.is_dark(idx["C3"]) and field.world.repairs_by_unqualified_crew == 0


def test_work_reported_outside_a_shift_is_counted_as_a_breach() -> None:
    net = build(TWO_FAULTS_IN_SERIES)
    idx = net.index_of()
    crew = _crew("R1", {"mv"})  # on duty 0-16 h
    field, idx = _field([WorldFault(0, idx["J3"], idx["J3"], 3600, "mv")], [crew])
    _drain(field, 0)
    field.hear([Assign(15 * 3600, "W1", "R1", 3 * 3600, "W1-R1", "repair", idx["J3"], "mv")])
    (arrived,) = _drain(field, 20 * 3600)
    assert arrived.t_s == 18 * 3600 and field.stats.hours_of_service_breaches == 1
    assert field.stats.work_past_duty == [f"R1@{18 * 3600}"]
