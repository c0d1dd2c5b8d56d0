# The newcomer's commands (README): `make run` and `make test`.
.PHONY: run test setup lint

run: setup
	.venv/bin/fabricctl serve

setup:
	scripts/setup

test:
	scripts/test

lint:
	.venv/bin/ruff check fabric api bgp migrations tests
	.venv/bin/mypy
