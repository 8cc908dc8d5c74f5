# make install: .venv with the CPU build of torch first, then medmllm and its test extras.
# make demo / make test / make bench install first when needed.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
TORCH   ?= torch==2.13.0

.PHONY: install demo test bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/medmllm demo

bench: $(STAMP)  # benchmarks/RESULTS.md and RESULTS.json (about 15 minutes on 2 cores)
	$(BIN)/python benchmarks/bench

test: $(STAMP)
	$(BIN)/python tests/fetch_openi.py  # real Open-i reports for the metric tests (skipped if offline)
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) runs .pytest_cache
