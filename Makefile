# `make run` starts the app on the demo data; `make test` runs every test. Both set themselves up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNTIME := $(VENV)/.runtime-installed
DEV := $(VENV)/.dev-installed
NODE_DEPS := node_modules/.installed

.PHONY: run run-public test bench lint format clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUNTIME): requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(DEV): requirements-dev.txt $(RUNTIME)
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

# axe-core (accessibility checks in the browser tests), pinned by package-lock.json
# Without npm the accessibility checks skip, saying so; CI installs npm and requires them.
$(NODE_DEPS): package-lock.json
	@if command -v npm >/dev/null; then npm ci --no-audit --no-fund && touch $@; \
	else echo "npm not found: the axe-core accessibility checks will be skipped"; fi

# STREAMLIT_SERVER_PORT (default 8501) and DATABASE_URL are read from the environment. Demo mode
# (demo users, no password) is switched on here explicitly, and refuses any non-demo database.
run: $(RUNTIME)
	$(BIN)/python -m dashboard prepare
	DEMO_MODE=$${DEMO_MODE:-1} $(BIN)/streamlit run streamlit_app.py

# The public knife-bin page alone (no sign-in, reads only PUBLIC_DIR) on PUBLIC_PORT (default 8502).
run-public: $(RUNTIME)
	$(BIN)/python -m dashboard prepare
	$(BIN)/streamlit run public_app.py --server.port $${PUBLIC_PORT:-8502}

test: $(DEV) $(NODE_DEPS)
	$(BIN)/python -m dashboard prepare-static
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(DEV)
	$(BIN)/python -m dashboard prepare-static
	$(BIN)/python benchmarks/bench_map.py
	$(BIN)/python benchmarks/bench_import.py

lint: $(DEV)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(DEV)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) static .pytest_cache .ruff_cache node_modules
