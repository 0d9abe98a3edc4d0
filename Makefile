# Set-up and checks. `make demo` and `make test` create .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint typecheck unit bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch 2.13.0 first: on this project's machines it is a local CPU build (see README).
	$(PY) -m pip install --quiet 'torch==2.13.0'
	$(PY) -m pip install --quiet -e '.[dev,s3,tensorflow,sklearn,postgres,tuning,ray]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) examples/tf2_workflow/workflow.py

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench examples

typecheck: $(STAMP)
	$(VENV)/bin/mypy src

unit: $(STAMP)
	$(VENV)/bin/pytest -q

test: lint typecheck unit

bench: $(STAMP)
	$(PY) bench/job_overhead.py
	$(PY) bench/processing.py
	$(PY) bench/serving.py
	$(PY) bench/transform.py
	$(PY) bench/tuning.py

clean:
	rm -rf $(VENV) build *.egg-info examples/tf2_workflow/data
