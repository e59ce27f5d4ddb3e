# Two entry points: `make demo` (the chat example) and `make test`. Each creates .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint docs bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

# The chat example's JavaScript (the official phoenix client, pinned by its lock file) and
# the browser the browser tests drive (Debian's chromium, installed by .ci/chromium if it can).
CHAT_JS := examples/chat/node_modules/.package-lock.json
$(CHAT_JS): examples/chat/package-lock.json
	cd examples/chat && npm ci --no-audit --no-fund
.PHONY: browser
browser:
	@bash .ci/chromium || echo "chromium is missing: the browser tests will be skipped"
# The official phoenix client that the channels tests drive (tests/js/package-lock.json).
TESTS_JS := tests/js/node_modules/.package-lock.json
$(TESTS_JS): tests/js/package-lock.json
	cd tests/js && npm ci --no-audit --no-fund
test: $(CHAT_JS) $(TESTS_JS) browser

# the chat example (examples/chat): prints the URL to open; Ctrl-C stops it
demo: $(BIN)/.installed $(CHAT_JS)
	$(BIN)/python -m examples.chat

lint: $(BIN)/.installed
	$(BIN)/ruff check beamish tests benchmarks examples
	$(BIN)/ruff format --check beamish
	$(BIN)/mypy
	$(BIN)/lint-imports

# The API reference from the public docstrings, with the guides, into build/site: strict, so
# a broken reference or a docstring that does not parse fails.
docs: $(BIN)/.installed
	$(BIN)/mkdocs build --strict --quiet

# On 2 pytest-xdist workers (the suite's budget is 2 cores), a test module per worker at a
# time (--dist loadscope), so a module's shared server or browser is started once.
PYTEST_WORKERS ?= 2
test: lint docs
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadscope

bench: $(BIN)/.installed
	$(BIN)/python benchmarks/kernel.py

clean:
	rm -rf $(VENV) .venv-* build *.egg-info
