# Set-up and checks. `make demo` and `make test` create .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint typecheck unit bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,tensorflow,sklearn,postgres]'
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

clean:
	rm -rf $(VENV) build *.egg-info examples/tf2_workflow/data
