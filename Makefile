# Two entry points (see README): `make demo` runs the main job, `make test` runs the whole test suite.
# Both create or reuse the virtual environment .venv in the repository.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.attnlab-installed

.PHONY: demo test bench clean browser docs examples

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/attnlab run

test: $(STAMP) browser
	$(PY) -m pytest -n 2 -p no:cacheprovider

# The documentation site (Sphinx; warnings are errors) -> docs/_build/html/index.html
docs: $(STAMP)
	$(PY) -m pip install -q -e ".[docs]"
	$(PY) -m sphinx -b html -W --keep-going -q docs docs/_build/html
	@echo "docs: docs/_build/html/index.html"

# Regenerate the gallery's committed outputs (docs/gallery/) by running every example in full mode
examples: $(STAMP)
	$(PY) examples/run_all.py --out docs/gallery

# Headless Chromium for the HTML report's browser test (tests/report/test_browser.py), from Debian packages;
# installed only where missing and when we may (root, as in CI).
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q chromium chromium-driver; \
	  else echo "chromium missing and not root: the browser test will be skipped (run: sudo apt-get install chromium chromium-driver)"; fi; \
	fi

bench: $(STAMP)
	$(PY) -m pip install -q -e ".[bench]"
	$(PY) benchmarks/sms_spam_quality.py
	$(PY) benchmarks/cpu_throughput.py
	$(PY) benchmarks/metrics_speed.py
	$(PY) benchmarks/chunked_memory.py
	$(PY) benchmarks/leakage_speed.py
	$(PY) benchmarks/datasets.py

clean:
	rm -rf $(VENV) runs
