# `make run` starts the app on the demo data; `make test` runs every test. Both set themselves up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNTIME := $(VENV)/.runtime-installed
DEV := $(VENV)/.dev-installed
NODE_DEPS := node_modules/.installed

.PHONY: run run-public test test-postgres load-test bench lint format clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUNTIME): requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(DEV): requirements-dev.txt $(RUNTIME)
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

# npm packages pinned by package-lock.json: Leaflet.draw (the app serves it to draw plan areas) and
# axe-core (accessibility checks in the browser tests). Without npm, or if `npm ci` fails, the app
# still runs without the drawing tool and the accessibility checks skip; CI installs npm and
# requires both. The stamp is written only on success, so the next run tries again.
NO_DRAWING := drawing plan areas on the map is unavailable (the keyboard alternatives still work:\
 pick a ward, hotspot cells, a named place, or upload GeoJSON), and the axe-core accessibility\
 checks will be skipped. Install Node.js and npm, then run make again, to get them.

$(NODE_DEPS): package-lock.json
	@if ! command -v npm >/dev/null; then echo "npm not found: $(NO_DRAWING)"; \
	elif npm ci --no-audit --no-fund; then touch $@; \
	else echo "npm ci failed: $(NO_DRAWING)"; fi

# STREAMLIT_SERVER_PORT (default 8501) and DATABASE_URL are read from the environment. Demo mode
# (demo users, no password) is switched on here explicitly, and refuses any non-demo database.
run: $(RUNTIME) $(NODE_DEPS)
	$(BIN)/python -m dashboard prepare
	DEMO_MODE=$${DEMO_MODE:-1} $(BIN)/streamlit run streamlit_app.py

# The public knife-bin page alone (no sign-in, reads only PUBLIC_DIR) on PUBLIC_PORT (default 8502).
# It draws nothing, so it needs no npm packages.
run-public: $(RUNTIME)
	$(BIN)/python -m dashboard prepare
	$(BIN)/streamlit run public_app.py --server.port $${PUBLIC_PORT:-8502}

# Tests run on every core (pytest-xdist), a test file per worker; PYTEST_WORKERS=0 runs them in one.
PYTEST_WORKERS ?= auto
PYTEST := $(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile

test: $(DEV) $(NODE_DEPS)
	$(BIN)/python -m dashboard prepare-static
	$(PYTEST) $(PYTEST_ARGS)

# The same suite with every store a PostgreSQL + PostGIS database, on a throwaway server that
# tests/postgres_server.py starts and removes (Debian: postgresql, postgresql-15-postgis-3).
test-postgres: $(DEV) $(NODE_DEPS)
	$(BIN)/python -m dashboard prepare-static
	$(BIN)/python -m tests.postgres_server $(PYTEST) $(PYTEST_ARGS)

# 20 readers and 5 editors for five minutes on two app processes sharing one throwaway PostgreSQL,
# all on 127.0.0.1; fails on any error or lost update. LOAD_ARGS="--duration 60" for a short one.
load-test: $(DEV)
	$(BIN)/python -m dashboard prepare-static
	$(BIN)/python -m tests.postgres_server $(BIN)/python benchmarks/load_test.py $(LOAD_ARGS)

# bench_london.py: 33 boroughs, 3,000,000 incidents, SQLite and a throwaway PostgreSQL side by side
# (about half an hour on 2 cores); LONDON_ARGS="--incidents 100000 --boroughs 4" for a short one.
bench: $(DEV) $(NODE_DEPS)
	$(BIN)/python -m dashboard prepare-static
	$(BIN)/python benchmarks/bench_map.py
	$(BIN)/python benchmarks/bench_hotspots.py
	$(BIN)/python benchmarks/bench_import.py
	$(BIN)/python benchmarks/bench_quarterly.py
	$(BIN)/python -m tests.postgres_server $(BIN)/python benchmarks/bench_london.py $(LONDON_ARGS)

lint: $(DEV)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(DEV)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) static .pytest_cache .ruff_cache node_modules
