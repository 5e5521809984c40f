# The two commands of the README: `make serve` and `make test`. Both bootstrap .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATA_DIR ?= ./trent-data

.PHONY: serve test soak lint typecheck bench clean

$(BIN)/trent: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(BIN)/trent

$(VENV)/.dev-installed: $(BIN)/trent
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

serve: $(BIN)/trent
	$(BIN)/trent serve --data-dir $(DATA_DIR) $(ARGS)

# The suite in two parts: everything but the `serial` tests, in parallel, then the tests that measure time or
# throughput, alone. One pytest worker per usable core and one more: many tests wait on servers they start, and the
# extra worker keeps the cores busy meanwhile (on 2 cores, ~87 % busy instead of ~75 %); `worksteal` moves
# tests from a busy worker to one that is done. Exit status 5 is "no test selected" (PYTEST_ARGS narrowed it).
TEST_WORKERS ?= $(shell $(PYTHON) -c 'import os; print(len(os.sched_getaffinity(0)) + 1)')

test: $(VENV)/.dev-installed
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal -m "not serial" $(PYTEST_ARGS)
	$(BIN)/python -m pytest -m serial $(PYTEST_ARGS) || test $$? -eq 5

# The long runs: 10 minutes of load, many more crash cycles, ~100,000 hostile requests per store, and the
# authorization differential tests at 1,000,000 in-process and 100,000 live calls (past the suite's 300 s
# per-test timeout, which the 10-minute load run alone exceeds).
soak: $(VENV)/.dev-installed
	TRENT_SOAK=1 $(BIN)/python -m pytest tests/reliability tests/authz_model tests/security -s -o timeout=14400 $(PYTEST_ARGS)

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

# On-demand benchmarks (they need wrk: Debian's `apt-get install wrk`).
bench: $(VENV)/.dev-installed
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	@command -v wrk >/dev/null || apt-get install -y wrk || { echo "install wrk to run the benchmarks"; exit 1; }
	$(BIN)/python benchmarks/run.py $(ARGS)
	$(BIN)/python benchmarks/authz.py
	$(BIN)/python benchmarks/grants.py
	$(BIN)/python benchmarks/nodes.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
