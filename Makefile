# Two commands: `make run` starts the whole system on SQLite with demo data; `make test` runs the suite.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
PORT ?= 5000
export FLASK_APP := web

.PHONY: setup run test lint format bench clean

# Reinstalls only when requirements.txt changes; the stamp file records the last install.
$(INSTALLED): requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $(INSTALLED)

setup: $(INSTALLED)

# honcho gives the first Procfile entry (web) $PORT and the others PORT+100, PORT+200; WEB_PORT
# tells every process where the web one listens (PUBLIC_BASE_URL's default). The development
# wallet certificates are made once (kept if present), so passes sign without credentials.
run: export WEB_PORT = $(PORT)
run: setup
	$(BIN)/flask db upgrade
	$(BIN)/flask demo seed --if-empty
	$(BIN)/flask wallet dev-certs
	@echo "Starting web, worker and bot: http://127.0.0.1:$(PORT)/ (demo logins: README.md)"
	PORT=$(PORT) PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho start

test: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: setup
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
