# The two commands of the README:
#   make run    install, boot the embedded PostgreSQL, migrate, load demo data, serve
#   make test   install the test tools and run the whole suite
# Everything goes into .venv/ and .data/ under this folder; nothing is installed system-wide.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# The venv's own pip when it has one, else the system pip aimed at the venv.
PIP     = $(shell $(BIN)/python -c 'import pip' 2>/dev/null && echo $(BIN)/python -m pip || echo $(PYTHON) -m pip --python $(BIN)/python)

.PHONY: run test bench serve migrate schema event-docs lock clean help
.DEFAULT_GOAL := help

help:
	@echo "make run     serve the API on an embedded PostgreSQL with demo data"
	@echo "make test    run the whole test suite"
	@echo "make bench   run the benchmarks (bench/) and write docs/benchmarks.md (about 20 minutes the first time)"
	@echo "make migrate apply database migrations (DATABASE_URL or the embedded database)"
	@echo "make schema  export schema.graphql from the code"
	@echo "make lock    re-pin requirements*.lock from pyproject.toml"
	@echo "make clean   remove .venv and the embedded database in .data"

# A venv with pip where the interpreter has ensurepip; on Debian/Ubuntu without the
# python3-venv package, a venv without pip filled by the system pip (pip --python).
$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed; try: make PYTHON=python3.12 ...")'
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { rm -rf $(VENV); $(PYTHON) -m venv --without-pip $(VENV); }

# Reinstall only when a lock file or the project metadata changed.
$(VENV)/.runtime: $(BIN)/python requirements.lock pyproject.toml
	@$(PIP) install -q -r requirements.lock
	@$(PIP) install -q --no-deps -e .
	@touch $@

$(VENV)/.test: $(VENV)/.runtime requirements-test.lock
	@$(PIP) install -q -r requirements-test.lock
	@touch $@

run: $(VENV)/.runtime
	$(BIN)/crm serve --demo

test: $(VENV)/.test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(VENV)/.test
	$(BIN)/python -m bench.run $(BENCH_ARGS)

migrate: $(VENV)/.runtime
	$(BIN)/crm migrate

schema: $(VENV)/.runtime
	$(BIN)/crm export-schema --output schema.graphql

event-docs: $(VENV)/.runtime
	$(BIN)/crm export-event-schemas --output docs/events/

lock:
	$(PYTHON) scripts/lock.py

clean:
	rm -rf $(VENV) .data
