# Every target installs what it needs: on a fresh machine with Python and make, `make run` and
# `make test` just work. uv comes from PyPI; everything else from the lock file.
PYTHON ?= python3
UV := $(PYTHON) -m uv
DATA_DIR ?= .shoebox
PORT ?= 8000

.PHONY: install run test lint bench schemas gateway chaos

.uv-installed:
	@$(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet --disable-pip-version-check uv
	@touch $@

install: .uv-installed
	@$(UV) sync --all-packages --frozen --quiet

run: install
	$(UV) run --frozen shoebox dev --data-dir $(DATA_DIR) --port $(PORT)

test: install
	$(UV) run --frozen pytest

lint: install
	$(UV) run --frozen ruff check .
	$(UV) run --frozen mypy libs/shoebox_lib services shoebox

bench: install
	$(UV) run --frozen python -m benchmarks

schemas: install
	$(UV) run --frozen python -m shoebox_lib.schemas proto-schemas

gateway: install  # regenerate deploy/nginx/nginx.conf and deploy/k8s/50-gateway.yaml from shoebox/routing.py
	$(UV) run --frozen python -m shoebox.gateway --write

chaos: install  # the full chaos suite (long; `make test` runs a bounded one): faults under load, per-fault report
	$(UV) run --frozen python -m shoebox.chaos
