# Two commands from a bare clone: `make demo` and `make test`. Both create .venv when missing, install the
# package (again only when pyproject.toml changed) and the system packages they need.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.ko-asr-installed
# pip's machine config lists local mirrors; its "Location ... is ignored" warnings are noise.
PIP_QUIET := grep -v "^WARNING: Location" || true

# Nothing reaches the Hub at run time.
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: demo demo-streaming test lint bench space space-bundle system-deps browser-deps

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing ko-asr into $(VENV) (first run takes a few minutes)..."
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]' 2>&1 | $(PIP_QUIET)
	@# pyctcdecode's metadata pins numpy<2, which would downgrade numpy under pandas/datasets; it runs on numpy 2.
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps 'pyctcdecode==0.5.0' 2>&1 | $(PIP_QUIET)
	@$(BIN)/python -c "import ko_asr, torch, torchaudio, pyctcdecode, kenlm, arpabo"
	@touch $@

system-deps:
	@scripts/install-system-deps.sh ffmpeg:ffmpeg espeak-ng:espeak-ng sox:sox

# The Space's browser test drives Debian's Chromium through its matching chromedriver (no browser downloads);
# a Korean font so the screenshots show Hangul.
browser-deps:
	@scripts/install-system-deps.sh chromium:chromium chromium-driver:chromedriver fonts-nanum

ACCELERATE := $(BIN)/accelerate launch --cpu --num_processes 1 --num_machines 1 --mixed_precision no --dynamo_backend no
DEMO_DIR := outputs/ds2-demo

# Synthetic corpus -> train DeepSpeech2 -> n-gram LM -> evaluate (LM beam search) on the synthetic eval splits -> plots.
demo: system-deps $(STAMP)
	$(BIN)/ko-asr synth data/synthetic-demo --size demo
	$(ACCELERATE) recipes/train.py recipes/configs/ds2_demo.yaml --output_dir $(DEMO_DIR)
	@# A syllable 5-gram from the training transcripts only, saved into the model: its pipeline decodes with it.
	@# alpha/beta: the best of recipes/tune_decoder.py's grid on dev (recipes/RESULTS.md); re-tune with that script.
	$(BIN)/ko-asr lm build data/synthetic-demo $(DEMO_DIR) --model $(DEMO_DIR) --units syllable --order 5 --alpha 0.35 --beta 1.0
	$(BIN)/python recipes/evaluate.py --model $(DEMO_DIR) --dataset synthetic --splits eval_clean eval_other
	@echo "Plots: $$(ls $(DEMO_DIR)/plots/*.png | tr '\n' ' ')"
	@echo "Model card: $(DEMO_DIR)/README.md (synthetic espeak-ng speech: not real-speech accuracy)"

STREAMING_DIR := outputs/ds2-streaming

# The streaming model (unidirectional GRUs + lookahead, global feature statistics) on the same corpus and CPU budget,
# evaluated, then exported to ONNX (offline + streaming graphs, int8) for `ko-asr transcribe --onnx` and the Space.
demo-streaming: system-deps $(STAMP)
	$(BIN)/ko-asr synth data/synthetic-demo --size demo
	$(ACCELERATE) recipes/train.py recipes/configs/ds2_streaming.yaml --output_dir $(STREAMING_DIR)
	$(BIN)/python recipes/evaluate.py --model $(STREAMING_DIR) --dataset synthetic --splits eval_clean eval_other
	$(BIN)/ko-asr export onnx $(STREAMING_DIR) $(STREAMING_DIR)-onnx

test: system-deps browser-deps $(STAMP)
	@rc=0; $(BIN)/python -m pytest -q $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests; failing rather than passing an empty suite"; exit 1; fi; \
	exit $$rc

# The demo Space on http://127.0.0.1:7860 with the models under outputs/ (run `make demo` first) and $$KO_ASR_MODELS.
# Online, unlike every other target, so KO_ASR_MODELS may name Hub ids. GNU make has no target-specific `unexport`;
# an empty value is "not set" to huggingface_hub, datasets and transformers, and a command-line assignment still
# wins (`make space HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1` serves fully offline).
space: export HF_HUB_OFFLINE :=
space: export HF_DATASETS_OFFLINE :=
space: export TRANSFORMERS_OFFLINE :=
space: system-deps $(STAMP)
	$(BIN)/python space/app.py

# A self-contained Space folder to push (app, ko_asr source, the demo model, example clips): build/space.
space-bundle: $(STAMP)
	$(BIN)/python scripts/build_space_bundle.py --model $(DEMO_DIR) --corpus data/synthetic-demo --output build/space

lint: $(STAMP)
	$(BIN)/ruff check ko_asr ko_asr_cli.py tests benchmarks recipes space scripts

# Every benchmark script in turn (tens of minutes on 2 cores); figures are recorded in benchmarks/BENCHMARKS.md.
bench: system-deps $(STAMP)
	@for script in text model data train space cli decoding streaming export; do echo "== benchmarks/$$script.py"; $(BIN)/python benchmarks/$$script.py; done
	$(BIN)/python benchmarks/space.py --repeat 14
