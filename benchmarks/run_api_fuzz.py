"""Stateful fuzzing of the API as a soak (correctness, not timed): long random sequences of legal
requests (``tests/api/fuzz.py``, the machine ``make test`` runs briefly) on SQLite and on
PostgreSQL, several seeds each.

    python -m benchmarks.run_api_fuzz                   # results/api-fuzz.json (about 40 min)

The app runs on loopback in this process (uvicorn, the region at scale 0.1), on a fresh store
for each run of the machine; a restart serves a new app on the same store. Problems are counted,
not raised, and the runs go on. Per store and seed: operations, restarts, engine deaths (an
engine thread stopped, ``/readyz`` failing, a request with no answer, an event rolled back
because the engine raised, a server that would not start again), 5xx answers, restarts that did
not rebuild the state read before them, broken invariants, legal requests refused, refused
requests that changed something, and the first problems found. Target: at least 10,000
operations with none of them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
# What a run counts as a problem, by its name in the results -> the fuzz tally's kind.
PROBLEMS = {"engine_deaths": "engine", "server_errors": "5xx", "restart_mismatches": "restart",
            "broken_invariants": "state", "legal_requests_refused": "answer",
            "refusals_that_changed_state": "refusal", "notices_lost_or_corrupted": "notices"}


def fuzz(store: str, seed: int, runs: int, steps: int, root: Path, pg_url: str | None) -> dict[str, Any]:
    """One seed's runs on one store, and what they found."""
    from grid_model.generate import RegionParams
    from grid_model.region import load_region
    from tests.api.fuzz import FuzzGrid, FuzzTally, FuzzWorld, postgres_stores, run_fuzz, sqlite_stores

    stores = postgres_stores(root, pg_url) if pg_url else sqlite_stores(root)
    world = FuzzWorld(FuzzGrid.of(load_region(RegionParams(scale=0.1))), stores, FuzzTally(strict=False))
    aborted = ""
    try:
        run_fuzz(world, seed_=seed, runs=runs, steps=steps)
    except Exception as exc:  # a server that did not start again ends the seed's runs: count it
        aborted = f"{type(exc).__name__}: {exc}"
    t = world.tally
    return {"store": store, "seed": seed, "runs": runs, "steps": steps, "operations": t.operations,
            "restarts": t.restarts, "runs_cut_short_by_hypothesis": t.cut_short,
            **{name: t.found[kind] for name, kind in PROBLEMS.items()}, "aborted": aborted,
            "answers": dict(sorted(t.answers.items())), "problems": t.problems[:20]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--runs", type=int, default=12, help="runs per seed, each on a fresh store")
    ap.add_argument("--steps", type=int, default=150, help="steps per run")
    ap.add_argument("--stores", nargs="+", default=["sqlite", "postgres"], choices=["sqlite", "postgres"])
    ap.add_argument("--out", type=Path, default=RESULTS / "api-fuzz.json")
    args = ap.parse_args(argv)
    from api.pg_local import local_postgres

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for store in args.stores:
            with local_postgres() if store == "postgres" else contextlib.nullcontext() as pg_url:
                for seed in args.seeds:
                    rows.append(fuzz(store, seed, args.runs, args.steps, root, pg_url))
                    print(json.dumps({k: v for k, v in rows[-1].items() if k not in ("answers", "problems")}),
                          flush=True)
    totals = {key: sum(r[key] for r in rows)
              for key in ("operations", "restarts", "runs_cut_short_by_hypothesis", *PROBLEMS)}
    met = totals["operations"] >= 10_000 and not any(totals[k] for k in PROBLEMS) and \
        not any(r["aborted"] for r in rows)
    result = {"runs": rows, "totals": totals, "met": met}
    meta = {"machine": platform.machine(), "python": platform.python_version()}
    args.out.write_text(json.dumps({"suite": "api-fuzz", "meta": meta, "results": result}, indent=1))
    print(json.dumps(totals, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
