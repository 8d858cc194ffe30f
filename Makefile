# Duban: the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 5000

.PHONY: install system browser run test bench clean

# the modeler page's bundle (web/assets/ → web/static/build/, generated, not committed)
MODELER := web/static/build/modeler.js
MO     := $(patsubst %.po,%.mo,$(wildcard web/translations/*/LC_MESSAGES/messages.po))

install: system $(VENV)/.installed node_modules/.installed $(MODELER) $(MO) browser

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip>=24"
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

node_modules/.installed: package.json package-lock.json
	command -v npm >/dev/null || (apt-get update && apt-get install -y nodejs npm)
	npm ci --ignore-scripts --no-audit --no-fund
	touch $@

$(MODELER): node_modules/.installed $(shell find web/assets -type f)
	node web/assets/build.mjs

# the pages' translations (zh_CN is the source language; the .po files are committed)
web/translations/%/LC_MESSAGES/messages.mo: web/translations/%/LC_MESSAGES/messages.po $(VENV)/.installed
	$(BIN)/pybabel compile --use-fuzzy -i $< -o $@

# the libraries WeasyPrint lays out and draws the 督办单's PDF with (Pango, with HarfBuzz and fontconfig),
# PostgreSQL's client programs, which `duban backup` and `duban restore` run (pg_dump, pg_restore),
# and OpenLDAP's server, which the directory tests start on a port of their own (tests/directory_server.py;
# Debian's package does not start a system slapd where policy-rc.d or the lack of systemd forbids it,
# and one that starts on port 389 is not used)
system:
	dpkg -s libpango-1.0-0 libpangoft2-1.0-0 >/dev/null 2>&1 || (apt-get update && apt-get install -y libpango-1.0-0 libpangoft2-1.0-0)
	command -v pg_dump >/dev/null || (apt-get update && apt-get install -y postgresql-client)
	dpkg -s slapd ldap-utils >/dev/null 2>&1 || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y slapd ldap-utils)

# the browser the browser tests drive (Debian's chromium; Playwright's own download does not
# work here) and a Chinese font, so that pages and screenshots show Chinese text
browser:
	command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)
	dpkg -s fonts-wqy-zenhei >/dev/null 2>&1 || (apt-get update && apt-get install -y fonts-wqy-zenhei)

run: install
	$(BIN)/duban db upgrade
	$(BIN)/duban demo
	DUBAN_DEMO=1 $(BIN)/duban serve --port $(PORT)

# the suite in parallel, then the cluster test alone (tests/cluster: PostgreSQL only, real time)
test: install
	$(BIN)/pytest
	$(BIN)/pytest -m cluster -n 0 tests/cluster

# the performance benchmark: cities of 1,000, 10,000 and 100,000 problems (BENCH_SIZES=1000,10000 for
# fewer), SQLite or DUBAN_BENCH_DATABASE_URL; bench/out/results.json, exit 1 when a target is missed
BENCH_SIZES ?= 1000,10000,100000
bench: install
	$(BIN)/python -m bench --sizes $(BENCH_SIZES)

clean:
	rm -rf $(VENV) node_modules instance test-artifacts web/static/build
