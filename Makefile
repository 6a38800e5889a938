# servespec: two set-up commands, `make render` and `make test`, each bootstraps what it needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# deploy / bench-endpoint: SPEC=specs/x.yaml; left out, only a repository of one spec deploys it.
SPEC ?=
# SGLang versions whose real argument parsers check the rendered flags (see tools/sglang-env.sh).
SGLANG_VERSIONS ?= 0.5.23 0.5.10 0.5.16
# Versions whose own resolution code resolves the rendered argvs (tools/sglang-resolve-requirements/;
# 0.5.16, the GPU check's release, has no resolve overlay and is checked by its parser alone).
RESOLVE_SGLANG_VERSIONS ?= 0.5.23 0.5.10
# SGLang versions whose own serving benchmark and evaluation module run locally
# (tools/sglang-bench-env.sh, tools/sglang-overlay-env.sh eval).
BENCH_SGLANG_VERSIONS ?= 0.5.23
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check

# Core: what `render` and `validate` need (pyyaml, jsonschema, jinja2, click).
$(VENV)/.core: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(PIP) -e . 2> >(grep -v "^WARNING: Location" >&2)
	@touch $@

# Everything the tests use: modal, openai, huggingface-hub, ruff, hypothesis, check-jsonschema.
$(VENV)/.dev: $(VENV)/.core
	@$(PIP) -e '.[dev]' 2> >(grep -v "^WARNING: Location" >&2)
	@touch $@

.PHONY: render resolved validate verify check estimate plan test test-no-envs lint deploy bench bench-size bench-resolution bench-endpoint eval-endpoint envs gpu-check clean
render: $(VENV)/.core ## Render every specs/*.yaml into rendered/<name>/
	@$(BIN)/servespec render

resolved: $(VENV)/.core ## rendered/<name>/sglang.resolved.json: each argv resolved by the pinned SGLang's own code
	@for v in $(RESOLVE_SGLANG_VERSIONS); do bash tools/sglang-overlay-env.sh resolve $$v; done
	@$(BIN)/servespec render --resolve

validate: $(VENV)/.core ## Schema + rule checks of every spec
	@$(BIN)/servespec validate

verify: $(VENV)/.core ## Fail with a diff when rendered/ is stale or hand-edited
	@$(BIN)/servespec render --verify

check: verify ## Old name of verify, kept for one release

estimate: $(VENV)/.core ## Memory, KV-cache and cost figures per spec
	@$(BIN)/servespec estimate

plan: estimate ## Old name of estimate, kept for one release

envs: $(VENV)/.dev ## The real SGLang parsers and the local OpenAI-compatible test server
	@for v in $(SGLANG_VERSIONS); do bash tools/sglang-env.sh $$v; done
	@for v in $(RESOLVE_SGLANG_VERSIONS); do bash tools/sglang-overlay-env.sh resolve $$v; done
	@for v in $(BENCH_SGLANG_VERSIONS); do bash tools/sglang-bench-env.sh $$v; done
	@for v in $(BENCH_SGLANG_VERSIONS); do bash tools/sglang-overlay-env.sh eval $$v; done
	@bash tools/smoke-server-env.sh

test: $(VENV)/.dev envs ## The whole test suite, none skipped
	@$(BIN)/python -m pytest -q

test-no-envs: $(VENV)/.dev ## Every test that needs no .cache/ environment (under a minute)
	@$(BIN)/python -m pytest -q -m "not envs"

lint: $(VENV)/.dev
	@$(BIN)/ruff check renderer servespec tests bench tools rendered

deploy: $(VENV)/.dev ## Deploy SPEC step by step (SPEC=specs/x.yaml; required when specs/ holds several)
	@$(BIN)/servespec deploy $(SPEC)

bench-endpoint: $(VENV)/.dev ## SGLang's serving benchmark against SPEC's deployed endpoint (servespec bench)
	@$(BIN)/servespec bench $(SPEC)

eval-endpoint: $(VENV)/.dev ## SGLang's own evaluation module against SPEC's deployed endpoint (servespec eval)
	@$(BIN)/servespec eval $(SPEC)

bench: $(VENV)/.dev ## Benchmarks against check-jsonschema
	@$(BIN)/python bench/run.py

bench-size: $(VENV)/.core ## A full `servespec size` sweep per model, against one validate process per candidate
	@$(BIN)/python bench/size.py

bench-resolution: $(VENV)/.dev ## SGLang's own resolution of every shipped spec, against one process per spec
	@$(BIN)/python bench/resolution.py

gpu-check: $(VENV)/.dev ## Build and stage the GPU check; print its one command for the GPU machine (docs/gpu-check.md)
	@bash tools/gpu-check

clean:
	rm -rf $(VENV) .cache
