# Two commands do everything on a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench-ci venv clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/outage-dispatch demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

test: $(STAMP) lint
	$(BIN)/python -m pytest -q

# Solver latency on a fixed CI-sized workload, as ratios to a reference workload timed in the
# same run (benchmarks/results/routing-ci.json); a slowdown shows even on a noisy machine.
bench-ci: $(STAMP)
	$(BIN)/python -m benchmarks.run_routing --suite ci --out benchmarks/results/routing-ci.latest.json

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache
