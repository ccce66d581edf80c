# OMVEE job runner. `make up` for a local stack, `make test` for the whole suite.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell sha256sum pyproject.toml | cut -c1-12)

IMAGE_REPO ?= ghcr.io/omvee
IMAGE_TAG  ?= 0.1.0
KIND_CLUSTER ?= omvee
# The declared job types (api/catalog/jobtypes), read when a recipe needs them.
JOB_TYPES   = $(shell $(PY) -m api.catalog.registry)

.PHONY: help venv sysdeps controlplane up down test unit generate lint bench images helm \
        kind-up kind-down kind-load deploy \
        cluster-up cluster-down cluster-status cluster-kubeconfig postgres-up postgres-down

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 22

$(STAMP): pyproject.toml
	@echo "[venv] installing Python dependencies into $(VENV)" >&2
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) >&2
	@$(PY) -m pip install -q --upgrade pip >&2
	@$(PY) -m pip install -q -e '.[dev]' >&2
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

venv: $(STAMP) ## create .venv and install the package with its dev tools

sysdeps: ## install the Debian packages the suite needs (PostgreSQL server, espeak-ng, chromium, containerd, runc, CNI plugins, iptables, mmdebstrap, buildah, gcc for the pause image) if missing
	@missing=""; \
	compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null \
	  || missing="$$missing postgresql"; \
	command -v espeak-ng >/dev/null || missing="$$missing espeak-ng"; \
	command -v chromium >/dev/null || missing="$$missing chromium fonts-dejavu-core"; \
	command -v containerd >/dev/null || missing="$$missing containerd"; \
	command -v runc >/dev/null || missing="$$missing runc"; \
	test -x /usr/lib/cni/bridge || missing="$$missing containernetworking-plugins"; \
	command -v iptables >/dev/null || missing="$$missing iptables"; \
	command -v mmdebstrap >/dev/null || missing="$$missing mmdebstrap"; \
	command -v buildah >/dev/null || missing="$$missing buildah"; \
	test -f /usr/lib/x86_64-linux-gnu/libc.a -o -f /usr/lib/aarch64-linux-gnu/libc.a \
	  && command -v gcc >/dev/null || missing="$$missing gcc libc6-dev"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "[sysdeps] installing$$missing" >&2; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "error: please install these Debian packages:$$missing" >&2; exit 1; fi; \
	fi

controlplane: venv ## build the control-plane binaries and helm from Go modules (cached; reused when present)
	@$(PY) -m tests.localcluster build >/dev/null
	@$(PY) -m tests.localcluster helm >/dev/null

up: sysdeps venv ## local cluster with its real node, PostgreSQL, operator, API; a real transcription; prints the URLs
	@$(PY) -m tests.devstack up

down: venv ## stop everything `make up` started
	@$(PY) -m tests.devstack down

test: sysdeps lint controlplane ## lint, then the whole suite (starts and stops the cluster and PostgreSQL it needs)
	$(PY) -m pytest

unit: venv ## the fast tests that need no cluster or database
	$(PY) -m pytest tests/unit

generate: venv ## regenerate what follows from the job type declarations and profiles (CRD, chart values schema and jobs.types, the local catalog, the client's stub)
	$(PY) -m api.v1alpha1.crd --write
	$(PY) -m api.catalog.chart --write
	$(PY) -m tests.localprofiles --write
	$(PY) -m api.client.stub

lint: venv ## ruff, mypy and the import layering contracts
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

bench: controlplane ## benchmarks; each prints its figures
	$(PY) -m tests.bench

images: venv ## build the operator/API image and the job images (Docker; else buildah archives, cached)
	@if ! command -v docker >/dev/null; then \
	  IMAGE_REPO=$(IMAGE_REPO) IMAGE_TAG=$(IMAGE_TAG) $(PY) -m tests.localcluster images; exit; \
	fi
	@echo "[images] $(IMAGE_REPO)/omvee-jobs:$(IMAGE_TAG)"
	@docker build -f controller/Dockerfile -t $(IMAGE_REPO)/omvee-jobs:$(IMAGE_TAG) .
	@for type in $(JOB_TYPES); do \
	  echo "[images] $(IMAGE_REPO)/job-$$type:$(IMAGE_TAG)"; \
	  docker build -f jobimages/$$(echo $$type | tr - _)/Dockerfile \
	    -t $(IMAGE_REPO)/job-$$type:$(IMAGE_TAG) . || exit 1; \
	done

helm: venv ## build helm from its Go module (cached) and print its path
	@$(PY) -m tests.localcluster helm

kind-up: venv ## create a kind cluster named $(KIND_CLUSTER) (needs Docker; kind is built from its Go module)
	@command -v docker >/dev/null || { echo "error: make kind-up needs Docker" >&2; exit 1; }
	@$$($(PY) -m tests.localcluster kind) create cluster --name $(KIND_CLUSTER) --wait 120s

kind-down: venv ## delete the kind cluster
	@$$($(PY) -m tests.localcluster kind) delete cluster --name $(KIND_CLUSTER)

kind-load: venv ## load the images `make images` built into the kind cluster
	@kind=$$($(PY) -m tests.localcluster kind); \
	for image in omvee-jobs $(addprefix job-,$(JOB_TYPES)); do \
	  echo "[kind-load] $(IMAGE_REPO)/$$image:$(IMAGE_TAG)"; \
	  $$kind load docker-image --name $(KIND_CLUSTER) $(IMAGE_REPO)/$$image:$(IMAGE_TAG) || exit 1; \
	done

deploy: venv ## helm upgrade --install the chart into the current kubectl context (kind: values-kind.yaml)
	@$$($(PY) -m tests.localcluster helm) upgrade --install omvee charts/omvee \
	  --namespace omvee --create-namespace --wait --timeout 5m \
	  -f charts/omvee/examples/values-kind.yaml \
	  --set image.repository=$(IMAGE_REPO)/omvee-jobs --set image.tag=$(IMAGE_TAG)

cluster-up: sysdeps controlplane ## start the local cluster: control plane, kwok's fake nodes and the real node (OMVEE_REAL_NODE=0: kwok only)
	@$(PY) -m tests.localcluster up

cluster-down: venv ## stop the processes cluster-up started and remove its state
	@$(PY) -m tests.localcluster down

cluster-status: venv ## show which control-plane processes run
	@$(PY) -m tests.localcluster status

cluster-kubeconfig: venv ## print the local cluster's admin kubeconfig path
	@$(PY) -m tests.localcluster kubeconfig

postgres-up: venv ## start the local PostgreSQL
	@$(PY) -m tests.localpostgres up

postgres-down: venv ## stop the local PostgreSQL and remove its data
	@$(PY) -m tests.localpostgres down
