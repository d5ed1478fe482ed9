# Two commands do everything on a fresh machine:
#   make demo   - create .venv, install autocapx (only what the demo needs), lift the cube once,
#                 then watch the offline demo sweep
#   make test   - the same virtualenv plus the dev tools and Ray; lint and run the tests
# (make test-fast: the same without the tests marked slow, for a quick check while working)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEV_STAMP := $(VENV)/.installed-dev-stamp

.PHONY: install install-dev demo test test-fast lint format bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "autocapx needs Python >= 3.11; this is " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(STAMP)

$(DEV_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,ray]'
	touch $(DEV_STAMP)

install: $(STAMP)

install-dev: $(DEV_STAMP)

# On a terminal the demo sweep opens in the console (q leaves it running; autocapx attach
# re-attaches); without one (CI, nohup) it runs headless with one line per trial.
demo: install
	$(BIN)/autocapx sim run examples/cube_lift.py --task cube_lift --seed 3 --save-frames frames
	@if [ -t 0 ] && [ -t 1 ]; then $(BIN)/autocapx tui examples/demo.toml; \
	else $(BIN)/autocapx run examples/demo.toml; fi

test: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q

test-fast: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q -m "not slow"

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install-dev
	$(BIN)/python bench/sim_bench.py
	$(BIN)/python bench/trial_bench.py
	$(BIN)/python bench/store_bench.py
	$(BIN)/python bench/skills_bench.py
	$(BIN)/python bench/tui_bench.py
	$(BIN)/python bench/ray_bench.py

clean:
	rm -rf $(VENV) frames .pytest_cache .ruff_cache
