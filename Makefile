# The two commands of the README: `make demo` and `make test`. Both set up everything they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# the demo needs the project alone; the tests also need the dev and bench extras
RUNTIME_STAMP := $(VENV)/.installed-runtime
DEV_STAMP := $(VENV)/.installed-dev
# checkov gets its own environment: its dependency pins clash with the project's.
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
# the FinOps Foundation's FOCUS validator too: it needs Python >= 3.12 and pins duckdb<2 and numpy<2.
# Its Python: PYTHON312 if given, else the first that runs and is 3.12+ of python3.12 on the PATH
# (a pyenv shim may be there yet not run), pyenv's 3.12 installs, python3.
FOCUS_VENV := .venv-focus
FOCUS_STAMP := $(FOCUS_VENV)/.installed
PYTHON312 ?=

# the console's browser tests drive Debian's chromium through its chromium-driver (CI runs as root)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test lint install bench clean focus-validator browser

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(RUNTIME_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $@ $(RUNTIME_STAMP)

$(CHECKOV_STAMP):
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet checkov==3.3.30
	touch $@

$(FOCUS_STAMP):
	@for py in $(PYTHON312) python3.12 \
	    $$(ls -d "$$(pyenv root 2>/dev/null || echo $$HOME/.pyenv)"/versions/3.12*/bin/python3 2>/dev/null | sort -rV) \
	    python3; do \
	  if "$$py" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then \
	    echo "focus-validator environment with $$py"; "$$py" -m venv $(FOCUS_VENV) && exit 0; fi; \
	done; echo "focus-validator needs Python 3.12+: set PYTHON312=/path/to/python3.12" >&2; exit 1
	$(FOCUS_VENV)/bin/pip install --quiet 'focus-validator==2.2.1' 'duckdb<2' 'numpy<2' 'pyarrow<26'
	touch $@

focus-validator: $(FOCUS_STAMP)

install: $(DEV_STAMP)

browser:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
		$(SUDO) apt-get update -q && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver; \
	fi

# the demo ends with the validator's verdict on its FOCUS export when the validator is installed
demo: $(RUNTIME_STAMP)
	$(BIN)/cloudact --data-dir .cloudact-demo demo

bench: $(DEV_STAMP)
	$(BIN)/python -m bench

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint $(CHECKOV_STAMP) $(FOCUS_STAMP) browser
	$(BIN)/pytest

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) $(FOCUS_VENV) .cloudact-demo .pytest_cache .mypy_cache .ruff_cache artifacts
