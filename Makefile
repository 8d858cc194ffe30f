# Duban: the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 5000

.PHONY: install run test clean

install: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip>=24"
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

node_modules/.installed: package.json package-lock.json
	command -v npm >/dev/null || (apt-get update && apt-get install -y nodejs npm)
	npm ci --ignore-scripts --no-audit --no-fund
	touch $@

run: install
	$(BIN)/duban db upgrade
	$(BIN)/duban demo
	$(BIN)/duban serve --port $(PORT)

test: install
	$(BIN)/pytest

clean:
	rm -rf $(VENV) node_modules instance test-artifacts
