# staydown: `make serve` runs the service on SQLite; `make test` runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EXTRAS ?= test
PYTEST_ARGS ?=
HOST ?= 127.0.0.1
PORT ?= 8000
comma := ,
STAMP := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))

.PHONY: install serve lint test messages bench bench-corpus clean

# axe-core for the browser accessibility tests (package.json, test-only). Reinstalled when the
# lock file changes; without npm the tests that need it skip locally (and fail under CI=true).
NODE_STAMP := node_modules/.installed

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall when the dependency list changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $@

$(NODE_STAMP): package-lock.json
	@if command -v npm >/dev/null; then npm ci --no-audit --no-fund && touch $@; \
	else echo "npm not found: the accessibility tests will skip (apt-get install npm, then make install)"; fi

install: $(STAMP) $(NODE_STAMP)

serve: $(STAMP)
	$(BIN)/staydown db upgrade
	$(BIN)/staydown serve --host $(HOST) --port $(PORT)

# Lint, format and types (configured in pyproject.toml): the suite runs only on a tree that passes them.
lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests bench examples
	$(BIN)/mypy

test: lint $(NODE_STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The translations: extract every marked message into the template, then merge it into each
# language's catalogue (new messages arrive empty, changed ones fuzzy: translate them, then
# `make test` checks that none is left). A new language: NEW_LANGUAGE=xx make messages (and add it to i18n.SHIPPED).
# The console has its own catalogue (console.pot, babel-console.cfg) in CONSOLE_LANGUAGES only.
LOCALE := src/staydown/locale
LANGUAGES := fr de es it nl pl pt
CONSOLE_LANGUAGES := fr

messages: $(STAMP)
	$(BIN)/pybabel extract -F $(LOCALE)/babel.cfg -k N_ --add-location=file --sort-by-file \
		--project=staydown --copyright-holder="the staydown authors" --msgid-bugs-address= \
		-o $(LOCALE)/messages.pot .
	@for lang in $(LANGUAGES) $(NEW_LANGUAGE); do \
		if [ -f $(LOCALE)/$$lang/LC_MESSAGES/messages.po ]; then \
			$(BIN)/pybabel update -i $(LOCALE)/messages.pot -d $(LOCALE) -l $$lang --ignore-obsolete; \
		else $(BIN)/pybabel init -i $(LOCALE)/messages.pot -d $(LOCALE) -l $$lang; fi; \
	done
	$(BIN)/pybabel extract -F $(LOCALE)/babel-console.cfg -k N_ --add-location=file --sort-by-file \
		--project=staydown --copyright-holder="the staydown authors" --msgid-bugs-address= \
		-o $(LOCALE)/console.pot .
	@for lang in $(CONSOLE_LANGUAGES); do \
		if [ -f $(LOCALE)/$$lang/LC_MESSAGES/console.po ]; then \
			$(BIN)/pybabel update -D console -i $(LOCALE)/console.pot -d $(LOCALE) -l $$lang --ignore-obsolete; \
		else $(BIN)/pybabel init -D console -i $(LOCALE)/console.pot -d $(LOCALE) -l $$lang; fi; \
	done
	$(BIN)/python -m staydown.i18n_check $(LOCALE)

# The robustness benchmark's pictures, fonts and emoji come from these Debian packages (bench/corpus.py
# SOURCES); nothing is downloaded at run time. Debian's wallpaper and clip-art packages are not used.
BENCH_DEBS := gcompris-qt-data wesnoth-1.16-data stellarium-data tuxpaint-stamps-default tango-icon-theme \
	oxygen-icon-theme fonts-noto-color-emoji fonts-dejavu-core fonts-liberation2

bench-corpus:
	@missing=$$(for p in $(BENCH_DEBS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then apt-get update -qq && apt-get install -y -q --no-install-recommends $$missing; fi

# The benchmarks (each prints its figures as one JSON object on its last line); the other files in
# bench/ (corpus.py, realworld.py, realworld_bench.py, videocorpus.py) are what they share.
BENCHES := hashing match_index robustness scan video sweep intake

bench: bench-corpus
	$(MAKE) install EXTRAS=test,bench
	for b in $(BENCHES); do echo "== bench/$$b.py"; $(BIN)/python bench/$$b.py || exit 1; done

clean:
	rm -rf $(VENV) var test-artifacts .pytest_cache node_modules
