# Two commands do everything on a fresh machine:
#   make demo   - create .venv, install autocapx, lift the cube once, then watch the offline demo sweep
#   make test   - create .venv, install autocapx with dev tools and Ray, lint and run the tests
# (make test-fast: the same without the tests marked slow, for a quick check while working)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# The Panda arm/gripper models ship inside the robosuite wheel; we use its files only.
ASSETS := robosuite==1.5.2

.PHONY: install demo test test-fast lint format bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,ray]'
	$(BIN)/python -m pip install --quiet --no-deps $(ASSETS)
	touch $(STAMP)

install: $(STAMP)

# On a terminal the demo sweep opens in the console (q leaves it running; autocapx attach
# re-attaches); without one (CI, nohup) it runs headless with one line per trial.
demo: install
	$(BIN)/autocapx sim run examples/cube_lift.py --task cube_lift --seed 3 --save-frames frames
	@if [ -t 0 ] && [ -t 1 ]; then $(BIN)/autocapx tui examples/demo.toml; \
	else $(BIN)/autocapx run examples/demo.toml; fi

test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q

test-fast: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q -m "not slow"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	$(BIN)/python bench/sim_bench.py
	$(BIN)/python bench/trial_bench.py
	$(BIN)/python bench/store_bench.py
	$(BIN)/python bench/skills_bench.py
	$(BIN)/python bench/tui_bench.py
	$(BIN)/python bench/ray_bench.py

clean:
	rm -rf $(VENV) frames .pytest_cache .ruff_cache
