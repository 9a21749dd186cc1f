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

# The rules the build enforces: style (ruff), the layering of docs/architecture.md
# (import-linter), types (mypy with the Django and DRF stubs) on every app, and the browser
# modules' JSDoc types (tsc --noEmit, tsconfig.json; `make bootstrap` installs it).
lint:
	@source var/env.sh 2>/dev/null; $(VENV)/bin/ruff check . && $(VENV)/bin/lint-imports --no-cache \
	  && $(VENV)/bin/mypy config geo partners realtime cameras incidents streaming recordings ptz demo \
	  && node_modules/.bin/tsc --noEmit -p .

bench: bootstrap
	@source var/env.sh && $(PY) benchmarks/coverage.py
