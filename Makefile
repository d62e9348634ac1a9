# The two commands a newcomer runs: `make run` and `make test`. Both go through `make setup`.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
HOST    ?= 127.0.0.1
PORT    ?= 8000
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup run test lint fuzz check bench bench-quality bench-history bench-journal bench-gaps bench-triage bench-hooks bench-workers screenshots clean

setup: $(STAMP)

# Re-runs only when pyproject.toml changes. torch goes in first and pinned: that version is a
# local CPU wheel here, whereas letting pip resolve torch pulls a multi-GB CUDA build.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[test]'
	@command -v chromium >/dev/null 2>&1 || [ "$$(id -u)" != 0 ] || \
		{ apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } || \
		echo "warning: could not install chromium; browser tests will skip (fail on CI)"
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || [ "$$(id -u)" != 0 ] || \
		{ apt-get update -qq && apt-get install -y -qq postgresql >/dev/null; } || \
		echo "warning: could not install postgresql; its journal tests will skip (fail on CI)"
	@command -v prometheus-alertmanager >/dev/null 2>&1 || [ "$$(id -u)" != 0 ] || \
		{ apt-get update -qq && apt-get install -y -qq prometheus-alertmanager >/dev/null; } || \
		echo "warning: could not install prometheus-alertmanager; its end-to-end test will skip (fail on CI)"
	touch $(STAMP)

run: setup
	$(BIN)/kb index
	$(BIN)/kb serve --host $(HOST) --port $(PORT)

test: setup lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# ruff (lint and format) and mypy; `make test` runs them first, so CI does too.
lint: setup
	$(BIN)/ruff check kb tests bench
	$(BIN)/ruff format --check kb tests bench
	$(BIN)/mypy

# Long generated-request and hostile-input runs against a real `kb serve` (make test runs short ones).
fuzz: setup
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-300} $(BIN)/python -m pytest tests/test_fuzz.py tests/test_hostile.py -q

check: setup
	$(BIN)/kb check

screenshots: setup
	KB_SCREENSHOTS=docs/screenshots $(BIN)/python -m pytest tests/test_browser.py -q

bench: setup
	$(BIN)/python bench/run.py
	$(BIN)/python bench/fusion_latency.py $(wildcard bench/out/index-1000 bench/out/index-10000 bench/out/index-100000)

bench-quality: setup
	$(BIN)/python bench/quality.py

# The knowledge loop: votes replayed on the shared suites, logging's cost, the gap report's purity.
bench-history: setup
	$(BIN)/python bench/history.py

bench-journal: setup
	$(BIN)/python bench/journal.py

bench-gaps: setup
	$(BIN)/python bench/gaps.py

# The alert hook's latency over HTTP: a group of 10 alerts, 1,000 alerts in one payload (README "Integrations").
bench-hooks: setup
	$(BIN)/python bench/hooks.py

# `kb serve` with 1 worker against 2, 16 clients: demo, 10k and 100k (bench/README "Workers").
bench-workers: setup
	@command -v wrk >/dev/null 2>&1 || [ "$$(id -u)" != 0 ] || \
		{ apt-get update -qq && apt-get install -y -qq wrk >/dev/null; } || echo "warning: could not install wrk"
	$(BIN)/python bench/workers.py

# Log triage: the CLI on 10k / 100k synthetic lines, searches during a server's triage, and the
# logs corpus triaged against searching each line alone (README "Log triage").
bench-triage: setup
	$(BIN)/python bench/triage_speed.py
	$(BIN)/python bench/triage_quality.py

clean:
	rm -rf $(VENV) index/gen-* index/CURRENT
