# dynab: `make run` starts the embedded stack and the console; `make test` runs ruff and pytest.
# Both create .venv when it is missing and install the project into it.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: run test test-emr lint format bench clean system-deps constraints screenshots

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "dynab needs Python 3.11 or newer (found " + sys.version.split()[0] + ")")'
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml constraints.txt | $(PY)
	@echo "installing dynab and its dependencies into $(VENV) ..."
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
	@touch $(STAMP)

# Re-pin constraints.txt from a fresh venv after changing pyproject.toml's dependencies.
constraints:
	rm -rf .venv-pin && $(PYTHON) -m venv .venv-pin
	.venv-pin/bin/pip install --quiet --disable-pip-version-check -e '.[test]'
	{ sed -n '/^#/p' constraints.txt; .venv-pin/bin/pip freeze --exclude-editable \
	  | grep -v -E '^(-e |dynab)'; } > constraints.txt.new && mv constraints.txt.new constraints.txt
	rm -rf .venv-pin
	{ sed -n '/^#/p' spark/emr/constraints.txt; \
	  grep -v -E '^#|^(numpy|pandas|scipy|pyarrow|pyspark)==' constraints.txt; \
	  grep -E '^(numpy|pandas|scipy|pyarrow|pyspark)==' spark/emr/constraints.txt; \
	} > spark/emr/constraints.txt.new && mv spark/emr/constraints.txt.new spark/emr/constraints.txt

system-deps:
	@scripts/ensure-system-deps.sh java chromium

run: $(STAMP)
	@scripts/ensure-system-deps.sh java
	$(VENV)/bin/dynab run

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# pytest's exit code 5 ("no tests collected") is a failure here.
# The job's tests under EMR's Spark run first, so that pytest's closing line is the whole suite's.
test: $(STAMP) system-deps lint test-emr
	@$(VENV)/bin/pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; \
	exit $$rc

# The parameter job's tests again under EMR 7.x's Spark (3.5) and the versions the EMR bootstrap
# installs (spark/emr/constraints.txt), in a venv of their own.
EMR_VENV ?= .venv-emr
$(EMR_VENV)/.installed: pyproject.toml spark/emr/constraints.txt
	$(PYTHON) -m venv $(EMR_VENV)
	$(EMR_VENV)/bin/pip install --quiet --disable-pip-version-check -c spark/emr/constraints.txt -e '.[test]'
	@touch $@

test-emr: $(EMR_VENV)/.installed system-deps
	$(EMR_VENV)/bin/python -m pytest -q -p no:cacheprovider tests/spark

bench: $(STAMP)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

# Every console page as analyst and operator after 24 simulated hours of the demo stack.
screenshots: $(STAMP)
	@scripts/ensure-system-deps.sh java chromium
	$(PY) scripts/screenshots.py

clean:
	rm -rf $(VENV) $(EMR_VENV) .pytest_cache .ruff_cache .hypothesis build *.egg-info
	@# test output under artifacts/ goes; the committed demo screenshots stay
	git clean -fdXq artifacts 2>/dev/null || true
