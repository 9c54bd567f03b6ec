# The book's commands. The first two are the ones to know:
#   make book   build the HTML book from the committed chapter outputs
#   make test   unit tests + notebook hygiene + nbval over every chapter
# Every target creates .venv and installs the project (pyproject.toml) when needed.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-dev
NBVAL  := --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg

.PHONY: book test lab execute references retrain bench install clean help

help:
	@sed -n '1,6p' Makefile

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

## make book: the HTML book, built from the committed outputs (nothing is re-executed)
book: $(STAMP)
	$(VENV)/bin/jupyter-book build -W -n --keep-going .
	@echo "The book is at $(CURDIR)/_build/html/index.html"

## make test: unit tests of the helpers, notebook checks, then nbval over every chapter
test: $(STAMP)
	BOOK_PROGRESS=0 $(PY) -m pytest tests chapters $(NBVAL)  # progress bars go to stderr, which nbval would flag

## make lab: JupyterLab on the chapters
lab: $(STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[dev,lab]"
	$(VENV)/bin/jupyter lab chapters

## make execute: re-execute every chapter in place on a fresh kernel (CHAPTERS=00_workbench for one)
execute: $(STAMP)
	$(PY) -m tools.notebooks execute $(CHAPTERS)

## make references: regenerate the figure references on purpose, then review the diff
references: $(STAMP)
	BOOK_REFERENCES=write $(PY) -m tools.notebooks execute $(CHAPTERS)
	$(PY) -m tools.notebooks execute $(CHAPTERS)
	git status --short data/references

## make retrain: retrain every cached model from scratch (NAME=workbench_mlp for one), then refresh chapters
retrain: $(STAMP)
	$(PY) -m helpers.checkpoints retrain $(NAME)
	$(PY) -m tools.notebooks execute $(CHAPTERS)
	git status --short data/checkpoints

## make bench: run each chapter once and the benchmark kernels; writes book/bench.md and data/bench.json
bench: $(STAMP)
	$(PY) -m tools.bench

clean:
	rm -rf _build .pytest_cache
