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

.PHONY: venv run test bench docker-base clean distclean

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

run: $(RUN_STAMP)
	PORT=$(PORT) $(VPY) app.py

test: venv
	$(VPY) -m pytest $(PYTEST_ARGS)

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
	rm -rf $(VENV) var
