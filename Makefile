# Set-up and everyday commands. Everything runs inside the virtual environment $(VENV).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_DATA ?= demo-data
DEMO_ARTIFACTS ?= demo-artifacts

.PHONY: demo test install install-test browser bench lint clean serve

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .

install-test: $(BIN)/python browser
	$(BIN)/python -m pip install --quiet -e ".[test]"

## browser: Debian's Chromium for the web UI's browser test (Playwright never downloads one)
browser:
	@test -x /usr/bin/chromium || (command -v apt-get >/dev/null && \
		(apt-get install -y -q chromium >/dev/null 2>&1 || (apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null)) \
		|| echo "note: /usr/bin/chromium is missing and could not be installed; the browser test will be skipped")

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

## serve: the training service with a demo account and sample data on http://127.0.0.1:8000
serve: install
	$(BIN)/pocket-recs serve --demo

bench: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test,bench]"
	$(BIN)/python benchmarks/fit_bench.py
	$(BIN)/python benchmarks/quality_bench.py

clean:
	rm -rf $(DEMO_DATA) $(DEMO_ARTIFACTS) .pytest_cache .hypothesis
