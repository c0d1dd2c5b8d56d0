# The newcomer's commands (README): `make run` and `make test`.
.PHONY: run demo serve test bench setup lint

# The lab demo (as root: leaf-spine on namespaces, routes, ping matrix, destroy), then the API.
run: demo serve

serve: setup
	.venv/bin/fabricctl serve

demo:
	scripts/setup --lab
	.venv/bin/python -m fabric.lab.demo

setup:
	scripts/setup

test:
	scripts/test

# The benchmarks (bench/README.md): tables on stdout, figures in bench/results/*.json.
bench:
	scripts/bench

lint:
	.venv/bin/ruff check fabric api bgp migrations tests bench
	.venv/bin/mypy
	.venv/bin/lint-imports
