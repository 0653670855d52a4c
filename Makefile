# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-dev

.PHONY: demo test install lint format bench clean system-deps

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Reinstall when the dependency list changes.
$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# Graphviz draws state machine graphs; opsbook falls back to text without it.
system-deps:
	@command -v dot >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null; \
	  else echo "note: graphviz 'dot' not found; graphs render as text"; fi; }

demo: $(STAMP) system-deps
	$(VENV)/bin/opsbook demo

test: $(STAMP) system-deps
	$(PY) -m pytest -n auto --durations=25

lint: $(STAMP)
	$(VENV)/bin/ruff check opsbook tests bench
	$(VENV)/bin/ruff format --check opsbook tests bench

format: $(STAMP)
	$(VENV)/bin/ruff format opsbook tests bench
	$(VENV)/bin/ruff check --fix opsbook tests bench

bench: $(STAMP)
	$(PY) bench/engine_bench.py

clean:
	rm -rf $(VENV) .opsbook-demo .pytest_cache
