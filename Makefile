# Mesa: two commands for a newcomer.
#   make up     real Kafka + PostgreSQL (installed if missing), topics, migrations, every service, demo data
#   make test   the whole test suite against real Kafka + PostgreSQL
#   make down   stop everything, keep data        make clean   stop and remove all local data
SHELL := /bin/bash
PY ?= python3
# make test's pytest workers: each takes whole test modules (1: one after the other)
TEST_WORKERS ?= 2
VENV := .venv
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
# KAFKA_BROKERS=3: a three-node Kafka cluster (deploy/kafka.sh), every node a bootstrap server
export KAFKA_BROKERS ?= 1
export KAFKA_BOOTSTRAP_SERVERS ?= $(shell KAFKA_BROKERS=$(KAFKA_BROKERS) bash deploy/kafka.sh bootstrap)
# PostgreSQL's port lies below the kernel's range for outgoing connections (32768 on): a port in it
# can be held by any client socket (to Kafka, to PostgreSQL itself), and the server then cannot bind it
export PG_PORT ?= 15432
export DATABASE_URL ?= postgresql://mesa:mesa@127.0.0.1:$(PG_PORT)/mesa
# PG_SERVERS=2: a second PostgreSQL server (deploy/postgres.sh) holding intake's and routing's schemas
export PG_SERVERS ?= 1
ifeq ($(PG_SERVERS),2)
export INTAKE_DATABASE_URL ?= postgresql://mesa:mesa@127.0.0.1:$(shell echo $$(($(PG_PORT) + 1)))/mesa
export ROUTING_DATABASE_URL ?= postgresql://mesa:mesa@127.0.0.1:$(shell echo $$(($(PG_PORT) + 1)))/mesa
endif

.PHONY: up test down clean infra observability browser mta venv lint status logs bench

$(STAMP): pyproject.toml
	@test -x $(VENV)/bin/python || $(PY) -m venv $(VENV)
	@$(VENV)/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
	@$(VENV)/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]'
	@rm -f $(VENV)/.installed-*; touch $@

venv: $(STAMP)

infra:
	@bash deploy/kafka.sh start
	@bash deploy/postgres.sh start

# traces (Jaeger, built once from the Go module proxy), metrics and alerts (Prometheus, Alertmanager)
observability:
	@bash deploy/jaeger.sh install
	@bash deploy/monitoring.sh install

up: venv infra observability
	@$(VENV)/bin/mesa signing init
	@$(VENV)/bin/mesa topics create
	@$(VENV)/bin/mesa signing cutover
	@bash deploy/jaeger.sh start
	@bash deploy/services.sh start
	@bash deploy/monitoring.sh start
	@$(VENV)/bin/mesa demo load
	@bash deploy/services.sh urls

browser:
	@bash deploy/browser.sh

# Debian's Postfix for the relay test (tests/e2e/test_mailin.py starts an instance of its own)
mta:
	@bash deploy/postfix.sh install

test: venv infra observability browser mta
	@$(VENV)/bin/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

lint: venv
	@$(VENV)/bin/ruff check shared services ops tests bench
	@$(VENV)/bin/ruff format --check shared services ops tests bench
	@$(VENV)/bin/mypy shared services ops tests bench

# Every benchmark in turn (not in CI: minutes, and the figures go to docs/benchmarks.md).
bench: venv infra
	@$(VENV)/bin/python -m bench.delivery
	@$(VENV)/bin/python -m bench.intake --seconds 5
	@$(VENV)/bin/python -m bench.e2e --seconds 10 --instances 1
	@$(VENV)/bin/python -m bench.e2e --seconds 10 --instances 2
	@$(VENV)/bin/python -m bench.routing
	@$(VENV)/bin/python -m bench.sla
	@$(VENV)/bin/python -m bench.notify
	@$(VENV)/bin/python -m bench.decode
	@$(VENV)/bin/python -m bench.floor
	@$(VENV)/bin/python -m bench.replay --events 1000000
	@$(VENV)/bin/python -m bench.search --tickets 100000

status:
	@bash deploy/kafka.sh status || true
	@bash deploy/postgres.sh status || true
	@bash deploy/services.sh status || true
	@bash deploy/jaeger.sh status || true
	@bash deploy/monitoring.sh status || true

down:
	@bash deploy/monitoring.sh stop
	@bash deploy/services.sh stop
	@bash deploy/jaeger.sh stop
	@bash deploy/postfix.sh stop
	@bash deploy/kafka.sh stop
	@bash deploy/postgres.sh stop

clean: down
	@bash deploy/monitoring.sh clean
	@bash deploy/jaeger.sh clean
	@bash deploy/kafka.sh clean
	@bash deploy/postgres.sh clean
	@bash deploy/postfix.sh clean
	@rm -rf .local
