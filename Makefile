# The two commands: `make run` and `make test` (see README.md).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: run test bootstrap demo lint bench

bootstrap:
	@bash scripts/bootstrap.sh

run: bootstrap
	@bash scripts/run.sh

test:
	@BOOTSTRAP_TEST=1 bash scripts/bootstrap.sh
	@bash scripts/test.sh $(ARGS)

demo: bootstrap
	@source var/env.sh && $(PY) manage.py load_demo

lint:
	$(VENV)/bin/ruff check . && $(VENV)/bin/mypy config geo cameras partners

bench: bootstrap
	@source var/env.sh && $(PY) benchmarks/coverage.py
