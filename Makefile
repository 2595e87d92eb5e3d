# Everyday commands. `make run` serves the shop at http://localhost:8888 on the file store;
# `make test` runs every test, the browser and container ones included (see README "Tests").

PYTHON      ?= python3
VENV        := .venv
VPY         := $(VENV)/bin/python
STAMP       := $(VENV)/.installed
RUN_STAMP   := $(VENV)/.installed-run
PORT        ?= 8888
BASE_IMAGE  ?= shop-base:bookworm
PYTEST_ARGS ?=

NODE_STAMP  := node_modules/.installed

.PHONY: venv node-tools run test fuzz bench docker-base clean distclean

venv: $(STAMP)

$(VPY):
	$(PYTHON) -m venv $(VENV)

# Re-install whenever a requirements file is newer than the last install. `make run` needs only
# what app.py needs; the tests and the bench add Selenium, matplotlib and the rest.
$(RUN_STAMP): requirements.txt | $(VPY)
	$(VPY) -m pip install --disable-pip-version-check -q -r requirements.txt
	touch $@

$(STAMP): requirements.txt requirements-dev.txt | $(VPY)
	$(VPY) -m pip install --disable-pip-version-check -q -r requirements-dev.txt
	touch $@ $(RUN_STAMP)

# axe-core and Lighthouse for the browser tests (package.json, pinned by package-lock.json), from
# npm, scripts off: nothing is downloaded at install time (Lighthouse drives Debian's Chromium).
# Without npm the tests that need them are skipped (failed under CI=true).
node-tools: $(NODE_STAMP)

$(NODE_STAMP): package.json package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --ignore-scripts --no-audit --no-fund --loglevel=error && touch $@; \
	else \
		echo "npm not found: the axe-core and Lighthouse tests will be skipped (apt-get install npm)"; \
	fi

run: $(RUN_STAMP)
	PORT=$(PORT) $(VPY) app.py

test: venv node-tools
	$(VPY) -m pytest $(PYTEST_ARGS)

# The rules for text in and out (tests/db/test_text_properties.py) with many more examples than
# make test's fixed seed runs, each time new ones.
fuzz: venv
	HYPOTHESIS_PROFILE=fuzz $(VPY) -m pytest tests/db/test_text_properties.py $(PYTEST_ARGS)

bench: venv
	$(VPY) -m bench

# The local Debian base image for machines that cannot pull from an image registry:
# BASE_IMAGE=shop-base:bookworm docker-compose up --build
docker-base:
	scripts/build-base-image.sh $(BASE_IMAGE)

clean:
	rm -rf .pytest_cache test-artifacts
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +

# Also removes the venv and the local data (sessions, database, cookie secret) in ./var.
distclean: clean
	rm -rf $(VENV) var node_modules
