# The book's commands. The first two are the ones to know:
#   make book   build the HTML book from the committed chapter outputs
#   make test   make book, then unit tests + notebook hygiene + nbval over every chapter + site and browser tests,
#               then nbval over every chapter again on a second CPU code path (MKL_CBWR, ATEN_CPU_CAPABILITY)
# Every target creates .venv and installs the project (pyproject.toml) when needed.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-dev
NBVAL  := --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg

ASSETS := web/node_modules/.package-lock.json

.PHONY: book test lab execute references retrain bench install assets student wheelhouse clean help

help:
	@sed -n '1,6p' Makefile

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	@touch $(STAMP)

# JupyterLab with MyST rendering: for `make lab`, and for the test that opens a chapter in a real JupyterLab
LAB_STAMP := $(VENV)/.installed-lab
$(LAB_STAMP): $(STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[dev,lab]"
	@touch $(LAB_STAMP)

install: $(STAMP)

## make assets: MathJax, require.js and the widget manager from the npm registry into web/node_modules (not committed)
$(ASSETS): web/package.json web/package-lock.json
	@command -v npm >/dev/null || { echo "make assets needs Node.js and npm: sudo apt-get install nodejs npm"; exit 1; }
	cd web && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $(ASSETS)

assets: $(ASSETS)

## make book: the HTML book, built from the committed outputs (nothing is re-executed)
book: $(STAMP) $(ASSETS)
	$(VENV)/bin/jupyter-book build -W -n --keep-going .
	@echo "The book is at $(CURDIR)/_build/html/index.html"

## make test: build the book, then unit tests, notebook checks, nbval over every chapter, site checks, browser test;
## then nbval over every chapter (figure checks included) once more on a second CPU code path
SECOND_CPU := MKL_CBWR=COMPATIBLE ATEN_CPU_CAPABILITY=default
test: book $(LAB_STAMP)
	BOOK_PROGRESS=0 $(PY) -m pytest tests chapters $(NBVAL)  # progress bars go to stderr, which nbval would flag
	@echo "make test: second pass, as on another CPU ($(SECOND_CPU))"
	$(SECOND_CPU) BOOK_PROGRESS=0 $(PY) -m pytest -p no:cacheprovider tests/test_second_cpu.py chapters $(NBVAL)

## make lab: JupyterLab on the chapters
lab: $(LAB_STAMP)
	$(VENV)/bin/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) chapters  # root: containers, cloud machines

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
bench: $(STAMP) $(ASSETS)
	$(PY) -m tools.bench

## make student: learners' copies of every chapter (solutions replaced by stubs) in build/student/chapters
student: $(STAMP)
	$(PY) -m tools.student --out build/student

## make wheelhouse: every wheel the book needs (and the npm packages of the site) in wheelhouse/, for rooms without
## internet: pip install --no-index --find-links wheelhouse -e ".[dev,lab]"   (see book/instructor.md)
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
wheelhouse: $(STAMP)
	mkdir -p wheelhouse
	$(PY) -m pip download --disable-pip-version-check --only-binary=:all: --dest wheelhouse \
		$(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX)) ".[dev,lab]" "pip" "setuptools>=68" "wheel"
	cd web && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error --cache ../wheelhouse/npm-cache
	@du -sh wheelhouse | sed 's/$$/ (copy it to each laptop, or serve it from a USB stick)/'

clean:
	rm -rf _build .pytest_cache
