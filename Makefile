# pyosi — the two set-up commands are `make run` and `make test`; both create .venv themselves.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: run test bench lint typecheck clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip setuptools wheel

# One stamp per extra set, rebuilt when pyproject.toml changes.
$(VENV)/.stamp-%: pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[$*]'
	@touch $@

# invisible-watermark requires opencv-python (the GUI build, which needs libGL); its cv2 package
# overwrites opencv-python-headless's files, so put the headless build back afterwards.
$(VENV)/.stamp-bench: pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[bench]'
	$(PIP) install --force-reinstall --no-deps "opencv-python-headless==$$($(BIN)/python -c 'from importlib.metadata import version; print(version("opencv-python-headless"))')"
	@touch $@

# The service on the embedded defaults (SQLite + files), in a data directory of its own so the
# demo's sample items and demo election never reach a real installation's data.
run: $(VENV)/.stamp-demo,service
	PYOSI_DATA_DIR="$${PYOSI_DATA_DIR:-$(CURDIR)/pyosi-demo/service}" $(BIN)/pyosi serve --demo

test: $(VENV)/.stamp-dev
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy
	$(BIN)/pytest -q

bench: $(VENV)/.stamp-bench
	$(BIN)/pyosi bench image --out bench-results
	$(BIN)/pyosi bench scan --out bench-results --corpus bench-results/scan-corpus

clean:
	rm -rf $(VENV) pyosi-demo bench-results .mypy_cache .ruff_cache .pytest_cache
