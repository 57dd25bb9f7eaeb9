# Set-up and everyday commands. Everything runs inside the virtual environment $(VENV).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_DATA ?= demo-data
DEMO_ARTIFACTS ?= demo-artifacts

.PHONY: demo test install install-test bench lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .

install-test: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"

## demo: install, generate the synthetic shop, fit it, show the artifacts and some recommendations
demo: install
	$(BIN)/pocket-recs sample-data $(DEMO_DATA) --users 2000 --items 1000 --events 50000 --seed 7
	$(BIN)/pocket-recs fit $(DEMO_DATA)/interactions.parquet $(DEMO_DATA)/catalog.csv $(DEMO_ARTIFACTS) --overwrite
	$(BIN)/pocket-recs recommend $(DEMO_ARTIFACTS) --similar sku-000010 --k 5
	$(BIN)/pocket-recs recommend $(DEMO_ARTIFACTS) --popular --category Books --k 5
	$(BIN)/pocket-recs recommend $(DEMO_ARTIFACTS) --user 17 --k 5 --explain

## test: install the test dependencies and run the whole test suite
test: install-test
	$(BIN)/python -m pytest

bench: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test,bench]"
	$(BIN)/python benchmarks/fit_bench.py
	$(BIN)/python benchmarks/quality_bench.py

clean:
	rm -rf $(DEMO_DATA) $(DEMO_ARTIFACTS) .pytest_cache .hypothesis
