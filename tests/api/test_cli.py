"""The command line's ``predict`` with a start from the grid's outage history: the history's
outages per storm by kind become the priors, the inferences in reading it are counted, and bad
input stops with what is wrong and where."""

from __future__ import annotations

import json
from pathlib import Path

import pandapower as pp
import pytest

from api.cli import main
from grid_model.posterior import CandidateKind
from grid_model.priors import DEFAULT_PRIORS
from tests.grid_model.pp_feeders import one_transformer_grid

HEADER = ("event_id,start_utc,first_published_utc,last_published_utc,lat,lon,circuit_id,device_id,extent,"
          "customers,cause,first_etor_utc")


def _transformer_row(k: int) -> str:
    return f"E{k},2024-02-0{k}T01:00:00Z,,2024-02-0{k}T03:00:00Z,37.3,-121.9,C7,,SERVICE TRANSFORMER,12,,"


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """The one-transformer grid (three customers), two of its customers calling, and a history
    of six transformer outages and one without an extent (one customer: a service drop)."""
    grid = tmp_path / "tiny.json"
    pp.to_json(one_transformer_grid(), str(grid))
    calls = tmp_path / "calls.csv"
    calls.write_text("call_id,time,customer_id\nK1,2024-02-04T10:00:00Z,load:1\nK2,2024-02-04T10:02:00Z,load:2\n",
                     encoding="utf-8")
    history = tmp_path / "history.csv"
    rows = [_transformer_row(k) for k in range(1, 7)]
    rows.append("E9,2024-02-04T01:00:00Z,,2024-02-04T02:00:00Z,37.3,-121.9,C7,,,1,,")
    history.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return {"grid": grid, "calls": calls, "history": history, "out": tmp_path / "incidents.json"}


def _predict(files: dict[str, Path], *extra: str) -> int:
    return main(["predict", "--grid", str(files["grid"]), "--calls", str(files["calls"]),
                 "-o", str(files["out"]), *extra])


def test_a_history_of_transformer_outages_puts_two_callers_on_it(files: dict[str, Path]) -> None:
    """Without a history the two callers' likeliest common cause is the LV fuse above them; a
    history where the grid's one transformer went out six times in two storms (the prior
    (3 + 20 x 0.02) / (1 + 20)) makes it the transformer. Kinds a history cannot name keep the
    defaults."""
    assert _predict(files) == 0
    plain = json.loads(files["out"].read_text())
    assert [i["device_id"] for i in plain["incidents"]] == ["fuse:line:2"]
    assert plain["start"]["history"] is None
    assert _predict(files, "--history", str(files["history"]), "--history-storms", "2",
                    "--call-rate", "0.2") == 0
    doc = json.loads(files["out"].read_text())
    assert [i["device_id"] for i in doc["incidents"]] == ["fuse:trafo:1"]
    start = doc["start"]
    assert start["priors"]["transformer"] == pytest.approx((6 / 2 + 20 * 0.02) / (1 + 20))
    assert start["priors"]["lv_fuse"] == DEFAULT_PRIORS.prior[CandidateKind.LV_FUSE]
    assert start["priors"]["customer_side"] == DEFAULT_PRIORS.prior[CandidateKind.CUSTOMER_SIDE]
    assert start["call_rate"] == 0.2
    history = start["history"]
    assert history["outages_per_storm"] == {"feeder": 0.0, "mv_device": 0.0, "transformer": 3.0,
                                            "service_drop": 0.5}
    assert (history["events"], history["storms"]) == (7, 2.0)
    assert history["extent_inferred"] == history["extent_from_customers"] == 1
    assert history["without_device_id"] == 7


def test_a_history_under_other_column_names_reads_through_a_mapping(files: dict[str, Path],
                                                                     tmp_path: Path) -> None:
    renamed = files["history"].read_text().replace("extent,customers", "kind,affected", 1)
    files["history"].write_text(renamed, encoding="utf-8")
    mapping = tmp_path / "columns.toml"
    mapping.write_text('[columns]\nevent_id = "event_id"\nstart = "start_utc"\n'
                       'restored = "last_published_utc"\nlat = "lat"\nlon = "lon"\nextent = "kind"\n'
                       'customers = "affected"\n', encoding="utf-8")
    assert _predict(files, "--history", str(files["history"]), "--columns", str(mapping)) == 0
    assert json.loads(files["out"].read_text())["start"]["history"]["outages_per_storm"]["transformer"] == 6.0


@pytest.mark.parametrize(("extra", "message"), [
    (("--history-storms", "0"), "--history-storms: must be above 0 and finite, got 0"),
    (("--call-rate", "1"), "--call-rate: a share above 0 and below 1, got 1"),
    (("--call-rate", "a tenth"), "--call-rate: not a number: 'a tenth'"),
    (("--format", "pge", "--columns", "c.toml"), "--columns: not allowed with argument --format"),
])
def test_bad_arguments_are_named(files: dict[str, Path], capsys: pytest.CaptureFixture[str],
                                 extra: tuple[str, ...], message: str) -> None:
    with pytest.raises(SystemExit) as exit_:
        _predict(files, "--history", str(files["history"]), *extra)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err
    assert not files["out"].exists()


def test_a_bad_history_stops_with_its_file_and_line(files: dict[str, Path], tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join([HEADER, _transformer_row(1), _transformer_row(2).replace("SERVICE TRANSFORMER",
                                                                                       "FEEDER")]) + "\n")
    cases = [(["--history", str(bad)], f"{bad}:3: extent 'FEEDER' is not one of"),
             (["--history", str(tmp_path / "none.csv")], "none.csv: cannot read: No such file"),
             (["--history-storms", "2"], "--format, --columns and --history-storms describe a --history")]
    for extra, message in cases:
        assert _predict(files, *extra) == 2
        assert message in capsys.readouterr().err
        assert not files["out"].exists()
