# Two commands on a fresh machine (see README.md):
#   make run [DATA=<folder>]   create .venv, install, start CheetahLion
#   make test                  create .venv with the test extras, run lint, import rules and tests
# While working on the code:
#   make test-fast             only the tests not marked slow (no lint)
# And the desktop bundle (docs/packaging.md):
#   make package               build dist/cheetahlion/ with PyInstaller
#   make smoke                 run the bundle's self-test (offscreen, without network if allowed)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PACKAGE_STAMP := $(VENV)/.installed-package
BUNDLE := dist/cheetahlion

.PHONY: run test test-fast lint package smoke clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[test]"
	touch $(STAMP)

$(PACKAGE_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[test,package]"
	touch $(PACKAGE_STAMP)

run: $(STAMP)
	$(BIN)/cheetahlion $(if $(DATA),--data "$(DATA)")

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

test: lint
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest

test-fast: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -m "not slow"

package: $(PACKAGE_STAMP)
	$(BIN)/pyinstaller --noconfirm --log-level WARN --distpath dist --workpath build \
		packaging/cheetahlion.spec

smoke:
	@test -x $(BUNDLE)/cheetahlion || { echo "no bundle in $(BUNDLE): run make package"; exit 1; }
	QT_QPA_PLATFORM=offscreen $$(unshare -rn true 2>/dev/null && echo unshare -rn) \
		$(BUNDLE)/cheetahlion --self-test

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
