"""The lower bound of recorded storm results computed again, and every gap to it recounted
from the recorded costs: a stronger bound re-judges past runs without running the solvers again
(the instances are rebuilt from their seeds; the bound is deterministic).

    python -m benchmarks.rebound benchmarks/results/routing-*.json   # storm, families, draws

Each row's ``lower_bound`` gains ``recomputed`` (the date), ``previous`` (the bound it had) and
``plain`` (the bound of the plain busy intervals, which checks the next rebuild of the instance).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

# The solver results of a row that carry a gap to the bound.
RESULTS_WITH_GAP = ("first_plan", "ours", "ortools", "zero_travel")


def instance_of(row: dict[str, Any]) -> dict[str, Any]:
    """The instance a storm or family row was measured on, rebuilt from its seed."""
    if "family" in row:
        from dispatch.storm_families import family_instance

        return family_instance(row["family"], n_orders=row["orders"], n_crews=row["crews"], seed=row["seed"])
    from dispatch.instances import storm_instance
    from grid_model.region import load_region

    seed = row.get("seed", 1)  # the storm suite's instances are seed 1
    return storm_instance(load_region(), n_orders=row["orders"], n_crews=row["crews"], seed=seed)


def rebound_row(row: dict[str, Any], date: str) -> None:
    """Recompute the row's bound and recount its gaps (in place). Raises ``ValueError`` when the
    instance rebuilt from the row's seed is not the one measured: the bound of the plain busy
    intervals (each order's least leg in, no trail) must be the one recorded the last time, or,
    the first time, the recorded bound must be it or the current bound."""
    from routing.bound import bound_with, lower_bound, plain_lead_trail
    from routing.io import problem_from_dict

    p = problem_from_dict(instance_of(row))
    t0 = time.perf_counter()
    bound = lower_bound(p)
    runtime_s = time.perf_counter() - t0
    recorded = row["lower_bound"]
    plain = bound_with(p, *plain_lead_trail(p))
    same = plain == recorded["plain"] if "plain" in recorded else recorded["cost"] in (plain, bound)
    if not same:
        name = f"{row.get('family', 'storm')} {row['orders']}/{row['crews']} seed {row.get('seed', 1)}"
        raise ValueError(f"{name}: the instance rebuilt from its seed is not the one measured (bound "
                         f"{recorded['cost']} recorded, {plain} / {bound} now): its generator changed since")
    row["lower_bound"] = {"cost": bound, "runtime_s": runtime_s, "recomputed": date,
                          "previous": recorded.get("previous", recorded["cost"]), "plain": plain}
    for key in RESULTS_WITH_GAP:
        res = row.get(key)
        if isinstance(res, dict) and "gap_to_bound" in res:
            found = res.get("found_plan", True)
            res["gap_to_bound"] = round(res["cost"] / bound - 1, 4) if found else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="+", type=Path, help="routing result files (other suites are skipped)")
    args = ap.parse_args(argv)
    date = time.strftime("%Y-%m-%d")
    for path in args.files:
        doc = json.loads(path.read_text())
        if not isinstance(doc, dict) or "results" not in doc:
            raise SystemExit(f"{path}: not a routing result file (no 'results')")
        if doc.get("suite") not in ("storm", "families"):
            print(f"{path.name}: suite {doc.get('suite')!r} has no storm bound, skipped")
            continue
        rows = [r for r in doc["results"] if "lower_bound" in r]
        for row in rows:
            rebound_row(row, date)
            print(f"{path.name}: {row.get('family', 'storm')} {row['orders']}/{row['crews']} "
                  f"seed {row.get('seed', 1)}: bound {row['lower_bound']['previous']} -> "
                  f"{row['lower_bound']['cost']}", flush=True)
        path.write_text(json.dumps(doc, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
