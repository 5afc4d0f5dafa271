# Two commands for a fresh machine:  make demo  |  make test
# Both create .venv on first use (CPU torch first: plain `torch` would pull a CUDA build).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
CORES ?= all
DEMO_DIR ?= data/demo
export PATH := $(abspath $(VENV))/bin:$(PATH)
# Tests on two pytest-xdist workers, a test module at a time, longest modules first (the
# order of tests/conftest.py, not xdist's by test count). TEST_WORKERS=0: one process.
TEST_WORKERS ?= 2
PYTEST_PARALLEL = $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder)

.PHONY: demo test test-fast venv lint clean-results bench sync

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet torch==2.13.0
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $@

# The demo cohort with the generator's defaults (spectstage demo-data --help).
$(DEMO_DIR)/manifest.csv: | $(VENV)/.installed
	spectstage demo-data --out $(DEMO_DIR)

demo: $(VENV)/.installed $(DEMO_DIR)/manifest.csv
	snakemake --cores $(CORES) --configfile config/demo.yaml
	snakemake --configfile config/demo.yaml --report results/report.html \
		> results/logs/report.log 2>&1 || { cat results/logs/report.log; exit 1; }
	@echo
	@spectstage summary
	@echo "Report (open in a browser): results/report.html"
	@echo "Tables, plots, logs:        results/tables/, results/plots/, results/logs/"

# As root, the SLURM tests get a local single-node SLURM (Debian packages, started here).
test: $(VENV)/.installed
	if [ "$$(id -u)" = 0 ]; then bash scripts/start-local-slurm.sh || echo "local SLURM not started: the SLURM tests will say why"; fi
	pytest $(PYTEST_PARALLEL)

# Everything but the shared workflow run and SLURM: the unit tests, in under 2 minutes.
test-fast: $(VENV)/.installed
	pytest $(PYTEST_PARALLEL) -m "not workflow and not slurm"

# Every benchmark (benchmarks/README.md): each prints a table and writes benchmarks/results/*.json.
# After `make demo` (run first; nothing to do when up to date), on a small fresh-seed cohort.
BENCH_DIR ?= data/bench
$(BENCH_DIR)/manifest.csv: | $(VENV)/.installed
	spectstage demo-data --out $(BENCH_DIR) --per-stage 4,4,4,4 --seed 3 --without sites # benchmarks read raw_dir: one site

bench: demo $(BENCH_DIR)/manifest.csv
	python benchmarks/noop_rerun.py
	python benchmarks/dag_scale.py --patients 1000 10000
	python benchmarks/format_invariance.py
	python benchmarks/alignment.py --raw $(BENCH_DIR)
	python benchmarks/ingest.py --raw $(BENCH_DIR) --per-layout 3
	python benchmarks/training.py --epochs 2
	if [ -f benchmarks/predict.py ]; then python benchmarks/predict.py; fi
	python benchmarks/make_demo.py --cores 2 # the whole of make demo again, in a temporary folder

lint: $(VENV)/.installed
	ruff check .
	ruff format --check .
	snakefmt --check Snakefile rules/
	snakemake --lint

clean-results:
	rm -rf results .snakemake

# After `dvc pull`, `dvc checkout` or `dvc exp apply`: Snakemake's records and file times
# from the restored files (DVC writes them in no order), so that `snakemake -n` has nothing
# to do and still sees later changes. The config file is params.yaml's `config`.
DVC_CONFIG = $(shell sed -n 's/^config: *\([^ #]*\).*/\1/p' params.yaml)
sync:
	snakemake --touch --forceall --cores 1 --configfile $(DVC_CONFIG) > /dev/null
	@echo "Snakemake's records match the files DVC restored (config: $(DVC_CONFIG))"
