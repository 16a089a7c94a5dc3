# Two commands do everything on a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench-ci venv clean pg chromium

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@# the routing kernels compiled once here, so a first `solve --seconds S` keeps its limit
	$(BIN)/python -c 'from routing.warm import warm_up; print(f"routing kernels compiled in {warm_up():.0f} s")'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/outage-dispatch demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

# Tests run on up to four processes (pytest-xdist): most API tests wait on servers and threads.
test: $(STAMP) lint pg chromium
	$(BIN)/python -m pytest -q -n auto --maxprocesses 4

# The API tests run against a real PostgreSQL server they start themselves; install Debian's
# package when the server binaries are missing (as root, or with password-less sudo).
pg: $(STAMP)
	@$(BIN)/python -c "import sys; from api.pg_local import pg_bin; sys.exit(pg_bin() is None)" || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo "sudo -n" ); \
	  $$SUDO apt-get install -y -q postgresql >/dev/null 2>&1 || \
	  { $$SUDO apt-get update -q >/dev/null && $$SUDO apt-get install -y -q postgresql >/dev/null; } || \
	  echo "could not install PostgreSQL: the PostgreSQL half of the API tests will be skipped"; }

# The map page is tested in headless Chromium (Debian's package, driven by Playwright).
chromium:
	@command -v chromium >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo "sudo -n" ); \
	  $$SUDO apt-get install -y -q chromium >/dev/null 2>&1 || \
	  { $$SUDO apt-get update -q >/dev/null && $$SUDO apt-get install -y -q chromium >/dev/null; } || \
	  echo "could not install Chromium: the map page test will be skipped"; }

# Solver latency on a fixed CI-sized workload, as ratios to a reference workload timed in the
# same run (benchmarks/results/routing-ci.json); a slowdown shows even on a noisy machine.
bench-ci: $(STAMP)
	$(BIN)/python -m benchmarks.run_routing --suite ci --out benchmarks/results/routing-ci.latest.json

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache
