# Tessera developer entry points. `make demo` and `make test` work on a fresh clone.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.tessera-setup
SERVICES := $(sort $(dir $(wildcard services/*/pyproject.toml)))
# The machine's pip config points at local mirrors that may be absent: keep their noise out.
QUIET_PIP := { grep -v -e '^WARNING: Location' -e '^DEPRECATION' || true; }

.PHONY: help setup protos lint test up demo bench images clean

help:
	@echo "make setup   create .venv and install every package (idempotent)"
	@echo "make demo    start the stack, run the end-to-end pipeline, print a summary, stop"
	@echo "make test    unit + integration + e2e tests against a real broker, S3 and Triton"
	@echo "make up      the local stack and every service in the foreground (Ctrl-C stops)"
	@echo "make lint    ruff + mypy;  make protos: regenerate gRPC code;  make bench: benchmarks"
	@echo "make images  build every service image (needs a Docker engine; PUSH=1 pushes to REGISTRY)"

setup: $(STAMP)

$(STAMP): constraints.txt requirements-dev.txt deploy/checkov-requirements.txt $(addsuffix pyproject.toml,$(SERVICES)) tools/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip 2>&1 | $(QUIET_PIP)
	# torch first, from the local wheel (a bare `torch` requirement would pull a CUDA build)
	$(BIN)/python -m pip install -q -c constraints.txt torch==2.13.0 2>&1 | $(QUIET_PIP)
	# compat editable mode: a .pth per distribution, so new subpackages need no reinstall
	$(BIN)/python -m pip install -q -c constraints.txt -r requirements-dev.txt \
		--config-settings editable_mode=compat $(addprefix -e ,$(SERVICES)) -e tools 2>&1 | $(QUIET_PIP)
	# HyperNetX only for its bundled hypergraphs (Les Misérables scenes): its metadata caps pandas<3,
	# which the rest of the stack has outgrown, so it goes in without its pins and with its imports.
	$(BIN)/python -m pip install -q --no-deps hypernetx==2.4.3 fastjsonschema==2.22.3 decorator==5.3.1 \
		HeapDict==1.0.1 igraph==1.0.0 texttable==1.7.2 bitsets==0.9.1 concepts==0.9.2 graphviz==0.21 2>&1 | $(QUIET_PIP)
	# Colin27 + AAL templates (segmentation training data) from Debian's mricron-data
	test -d /usr/share/mricron/templates || { apt-get update -qq && apt-get install -y -qq mricron-data; } \
		|| echo "warning: could not install mricron-data (needs root); segmentation data tests will fail"
	# Fashion-MNIST (compression benchmarks and tests) from Debian's dataset-fashion-mnist
	test -d /usr/share/datasets/fashion-mnist || { apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist; } \
		|| echo "warning: could not install dataset-fashion-mnist (needs root); compression data tests will fail"
	# checkov (Kubernetes policy checks of the rendered chart) in its own venv: in .venv it would
	# downgrade boto3, networkx and packaging
	test -x .stack/checkov-venv/bin/checkov || { $(PYTHON) -m venv .stack/checkov-venv \
		&& .stack/checkov-venv/bin/pip install -q -r deploy/checkov-requirements.txt 2>&1 | $(QUIET_PIP); }
	$(BIN)/python -c "import tessera.core, tessera.devstack, tritonclient.grpc, torch"
	touch $(STAMP)

protos: setup
	$(BIN)/python tools/gen_protos.py

lint: setup
	$(BIN)/ruff check services tools tests deploy
	$(BIN)/mypy $(addsuffix tessera,$(SERVICES)) tools/tessera

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

up: setup
	$(BIN)/tessera up

demo: setup
	$(BIN)/python -m tessera.demo

bench: setup
	for b in tools/bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b; done

REGISTRY ?= ghcr.io/tessera
TAG ?= $(shell git describe --tags --always --dirty)
IMAGE_SERVICES := $(notdir $(patsubst %/,%,$(dir $(wildcard services/*/Dockerfile))))

# No Docker engine on the development machines: tests/unit/test_dockerfiles.py checks the Dockerfiles instead.
images:
	@command -v docker >/dev/null || { echo "make images needs a Docker engine"; exit 1; }
	for s in $(IMAGE_SERVICES); do \
		docker build -f services/$$s/Dockerfile -t $(REGISTRY)/tessera-$$s:$(TAG) . ; \
		if [ -n "$(PUSH)" ]; then docker push $(REGISTRY)/tessera-$$s:$(TAG); fi; \
	done

clean:
	rm -rf .stack .tessera
