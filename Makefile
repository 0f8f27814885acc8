# Two commands on a fresh Debian machine (Python 3.11, root or sudo, package registries only):
#   make demo   install everything (system packages + project virtualenv) and run the demo batch
#   make test   install what is missing (quick when installed) and run the whole test suite
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
SIGPIPE := $(VENV)/bin/sigpipe
STAMP := $(VENV)/.installed
DEMO ?= demo
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Debian packages: poppler renders PDFs (pdf2image); chromium (tests only) screenshots the HTML report in a slow
# test, which skips without it.
APT_PACKAGES := poppler-utils
TEST_APT_PACKAGES := chromium

.PHONY: setup demo test test-deps test-fast lint bench

$(STAMP): pyproject.toml
	@command -v pdftoppm >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $(APT_PACKAGES); }
	@test -x $(PY) || python3.11 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	@touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(SIGPIPE) demo --out $(DEMO)

test-deps:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $(TEST_APT_PACKAGES) >/dev/null; } \
		|| echo "warning: could not install $(TEST_APT_PACKAGES): the report screenshot test will skip" >&2

test: setup test-deps
	$(PY) -m pytest -m "not gpu" -q

test-fast: setup
	$(PY) -m pytest -q

lint: setup
	$(VENV)/bin/ruff check .
