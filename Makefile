# The two commands of the README: `make demo` and `make test`. Both work on a fresh machine
# with only python3: they create .venv and install through constraints.txt.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip install -q -c constraints.txt
ARGS   ?=

.PHONY: install dev demo test docs bench bench-compiled fuzz gpu-check clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/python pyproject.toml constraints.txt
	$(PIP) -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) -e ".[dev]"
	touch $@

$(VENV)/.installed-plots: $(VENV)/.installed
	$(PIP) -e ".[plots]"
	touch $@

$(VENV)/.installed-docs: $(VENV)/.installed
	$(PIP) -e ".[docs]"
	touch $@

# The optional C++ inference loops (seqlayers/native: SimpleRNN, LSTM, GRU): compiled once against the installed
# torch (~1 minute); without a compiler everything still works (a TorchScript loop runs instead).
$(VENV)/.native: $(VENV)/.installed seqlayers/native/rnn_loop.cpp seqlayers/native/gated_loop.cpp seqlayers/native/rnn_train.cpp seqlayers/native/loop_math.h seqlayers/native/head.h seqlayers/native/loader.py
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m seqlayers.native \
		&& touch $@ || echo "native: the C++ loops were not built (see above); the TorchScript loop and torch's fused kernels run instead"

install: $(VENV)/.installed $(VENV)/.native

dev: $(VENV)/.installed-dev $(VENV)/.native

demo: install $(VENV)/.installed-plots
	$(BIN)/seqlayers demo $(ARGS)

test: dev
	KERAS_BACKEND=torch $(BIN)/python -m pytest -n 2 --timeout 900 $(ARGS)

# The API reference (mkdocs.yml; one page per module from the docstrings) into site/, offline;
# any warning (a broken link, a docstring that does not parse) fails the build.
docs: $(VENV)/.installed-docs
	$(BIN)/mkdocs build --strict --quiet --site-dir site

# Keras's JAX and TensorFlow backends live in their own venv, never in the package's dependencies.
# If they cannot be installed, the suite still runs and marks those backends as skipped.
BENCH_VENV ?= .venv-bench

$(BENCH_VENV)/.installed: benchmarks/constraints-bench.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install -q -c benchmarks/constraints-bench.txt keras jax jaxlib tensorflow-cpu \
		&& touch $@ || echo "bench: Keras JAX/TensorFlow backends not installed; they will be skipped"

# `make bench` is the one run of benchmarks/: every implementation on W1-W6 (Keras on each backend), the W1
# scaling study, then benchmarks.inference's parts (paired inference vs PyTorch and ONNX Runtime, roofline,
# streaming, T/B/H scaling, paired training step); ARGS="--inference none" for the workloads alone.
bench: dev $(BENCH_VENV)/.installed
	KERAS_BACKEND=torch SEQLAYERS_BENCH_PYTHON=$(CURDIR)/$(BENCH_VENV)/bin/python $(BIN)/python -m benchmarks $(ARGS)

# torch.compile and torch.export against eager seqlayers, paired in one process, one thread (issue 17).
bench-compiled: dev
	KERAS_BACKEND=torch OMP_NUM_THREADS=1 $(BIN)/python -m benchmarks.compiled --out benchmarks/results $(ARGS)

# On a machine with a CUDA GPU: the CUDA tests (skipped elsewhere) and a short GPU workload; fails when
# no GPU is visible (the tests would all be skipped).
gpu-check: dev
	$(BIN)/python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'gpu-check: no CUDA device visible to torch')"
	KERAS_BACKEND=torch $(BIN)/python -m pytest -q tests/layers/test_rnn_cuda.py tests/training/test_fit_cuda.py $(ARGS)
	KERAS_BACKEND=torch $(BIN)/python -m benchmarks.gpu_check

fuzz: dev
	SEQLAYERS_FUZZ_ITERATIONS=20000 KERAS_BACKEND=torch $(BIN)/python -m pytest tests/reliability -k fuzz $(ARGS)

clean:
	rm -rf $(VENV) build site *.egg-info .pytest_cache .hypothesis
