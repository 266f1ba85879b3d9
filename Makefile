# hermit's front door. `make demo` runs the whole product on the embedded lake; `make test`
# runs the test suite. Both install the locked environment first (uv, from PyPI).
UV ?= $(shell command -v uv 2>/dev/null || echo python3 -m uv)

.PHONY: setup demo test lint dev bench
setup:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet "uv==0.13.9"
	@$(UV) sync --frozen --compile-bytecode --quiet

demo: setup
	$(UV) run hermit demo

test: setup
	$(UV) run pytest

lint: setup
	$(UV) run ruff check .
	$(UV) run ruff format --check .

# the UI on the same instance the `hermit` commands record their runs in
dev: setup
	@mkdir -p .dagster_home && cp -n deploy/dagster.yaml .dagster_home/dagster.yaml 2>/dev/null || true
	DAGSTER_HOME=$(CURDIR)/.dagster_home $(UV) run dg dev

bench: setup
	$(UV) run --group bench python bench/run.py $(ARGS)
	$(UV) run python bench/flows.py --records 1000000
