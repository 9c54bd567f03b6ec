# The book's commands. The first two are the ones to know:
#   make book   build the HTML book from the committed chapter outputs
#   make test   make book and make lint (ruff), then unit tests + notebook hygiene + nbval over every chapter + site
#               and browser tests + the recipe of every cached model + retraining of the fast ones (<= 60 s), then
#               nbval over every chapter again on a second CPU code path (MKL_CBWR, ATEN_CPU_CAPABILITY); every core
#   make audit  retrain every cached model and judge it, rehearse the offline workshop (before a release or workshop)
# Every target creates .venv and installs the project (pyproject.toml) when needed.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-dev
NBVAL  := --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg

ASSETS := web/node_modules/.package-lock.json

.PHONY: book test audit lab execute references retrain bench mutants install assets student wheelhouse clean help \
	check-python lint format publish workshop

help:
	@sed -n '1,8p' Makefile

# The book needs Python $(PYTHON_MIN) or newer: checked when .venv is created, naming the Python it found
PYTHON_MIN ?= 3.11
NEED_PYTHON := import sys; v = sys.version_info; need = tuple(map(int, '$(PYTHON_MIN)'.split('.'))); \
	sys.exit(0 if v[:2] >= need else f'make: the book needs Python $(PYTHON_MIN) or newer, but $(PYTHON) is ' \
	f'Python {v.major}.{v.minor}. Install a newer one (Debian/Ubuntu: sudo apt-get install python3.11 ' \
	'python3.11-venv) and run make again, naming it if it is not python3: make PYTHON=python3.11 ...')
check-python:
	@$(PYTHON) -c "$(NEED_PYTHON)"

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -c "$(NEED_PYTHON)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || { echo "make: $(PYTHON) -m venv failed; on Debian/Ubuntu \
		install the venv module: sudo apt-get install python3-venv"; exit 1; }
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

## make test: build the book, then unit tests, notebook checks, nbval over every chapter, site checks, browser test,
## the recipe of every cached model and the retraining of the fast ones; then nbval over every chapter (figure checks
## included) once more on a second CPU code path. Each pass runs on JOBS workers (conftest.py keeps a chapter
## on one worker), prints its five slowest tests, and the wall time of each pass is printed last.
SECOND_CPU := MKL_CBWR=COMPATIBLE ATEN_CPU_CAPABILITY=default
JOBS ?= auto
XDIST := -n $(JOBS) --dist loadfile --no-loadscope-reorder --durations=5
TIMES := _build/make-test-times.txt
# $(call timed,LABEL,COMMAND): run COMMAND, append its wall time to $(TIMES), keep its exit status
timed = t=$$(date +%s); $(2); s=$$?; echo "$(1): $$(( $$(date +%s) - t )) s" >> $(TIMES); exit $$s
test: book $(LAB_STAMP) lint
	@mkdir -p _build && : > $(TIMES)
	@$(call timed,first pass,BOOK_PROGRESS=0 $(PY) -m pytest $(XDIST) tests chapters $(NBVAL))
	@echo "make test: second pass, as on another CPU ($(SECOND_CPU))"
	@$(call timed,second pass,$(SECOND_CPU) BOOK_PROGRESS=0 $(PY) -m pytest $(XDIST) -p no:cacheprovider \
		tests/test_second_cpu.py chapters $(NBVAL))
	@echo "make test: wall time of each pass" && tail -n 2 $(TIMES)

## make lint: the house style (ruff, configured in pyproject.toml): the linter over src/, tests/, tools/, the book's
## extensions and the chapters' code, the formatter's check over the Python files; make format applies both's fixes
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

## make publish: build the book and push the site to the gh-pages branch of PUBLISH_REMOTE (a remote's name or a
## repository's address), one commit replacing the last; a code host serves that branch as the book's website
## (README: "Reading it online"; .github/workflows/publish.yml does this on every push to main)
PUBLISH_REMOTE ?= origin
publish: book
	$(VENV)/bin/ghp-import --no-jekyll --push --force --no-history --remote $(PUBLISH_REMOTE) --branch gh-pages \
		--message "The book built from $$(git rev-parse --short HEAD 2>/dev/null || echo 'a working tree')" _build/html
	@echo "make publish: pushed _build/html to the gh-pages branch of $(PUBLISH_REMOTE)"

## make audit: retrain every cached model from scratch and judge it against the cache (weights on the platform it was
## trained on, behaviour of chaotic models elsewhere, metrics everywhere), check every recipe, and rehearse the
## offline workshop (tests/test_workshop_rehearsal.py: make workshop, then install.py without network; it downloads
## the wheels into build/wheelhouse once); read-only (BOOK_REHEARSAL=record writes data/workshop.json)
BOOK_REHEARSAL ?= 1
audit: $(STAMP) book
	@mkdir -p _build && : > $(TIMES)
	@$(call timed,audit,BOOK_AUDIT=1 BOOK_REHEARSAL=$(BOOK_REHEARSAL) TORCH_INDEX="$(TORCH_INDEX)" BOOK_PROGRESS=0 $(PY) -m pytest -n $(JOBS) \
		--dist worksteal --durations=10 tests/test_committed_artefacts.py tests/test_recipes.py \
		tests/test_workshop_rehearsal.py)
	@cat $(TIMES)

## make lab: JupyterLab on the learners' copies (build/student/chapters: exercises to solve, nothing spoiled; a copy
## you edited is never overwritten); make lab FULL=1 opens the book's chapters with their solutions and outputs
LAB_ROOT = $(if $(FULL),.,build/student)
lab: $(LAB_STAMP) $(if $(FULL),,student)
	$(VENV)/bin/jupyter lab --ServerApp.root_dir=$(LAB_ROOT) --LabApp.default_url=/lab/tree/chapters \
		$(if $(filter 0,$(shell id -u)),--allow-root)  # root: containers, cloud machines

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

## make mutants: mutation testing wing by wing (WINGS="lib lenses" for some); the share of mutants each wing's unit
## tests kill, equivalent ones set aside (tools/mutants_equivalent.toml); slow, not part of make test
mutants: $(STAMP)
	$(PY) -m tools.mutants $(WINGS)

## make student: learners' copies of every chapter (solutions replaced by stubs) in build/student/chapters, with the
## book's pages beside them; a copy the learner has changed is kept, never overwritten
student: $(STAMP)
	$(PY) -m tools.student --out build/student

## make workshop: the folder for a USB stick, for a room without internet (build/workshop/reading-networks-workshop:
## learners' copies, helpers and weights, a wheelhouse checked complete for each Python and platform named, the built
## site, install.py, WORKSHOP.md) and the solutions pack to hand out afterwards (book/instructor.md)
WORKSHOP_PYTHONS ?=
WORKSHOP_PLATFORMS ?=
# PyTorch's CPU-only wheels (no CUDA libraries); TORCH_INDEX= takes PyPI's, or what pip's configuration finds
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
workshop: book
	$(PY) -m tools.workshop --torch-index "$(TORCH_INDEX)" $(if $(WORKSHOP_PYTHONS),--pythons "$(WORKSHOP_PYTHONS)") \
		$(if $(WORKSHOP_PLATFORMS),--platforms "$(WORKSHOP_PLATFORMS)")

## make wheelhouse: every wheel the teacher's own environment needs (build and test tools too) and the npm packages of
## the site in wheelhouse/, to rebuild the book offline: pip install --no-index --find-links wheelhouse -e ".[dev,lab]"
wheelhouse: $(STAMP)
	mkdir -p wheelhouse
	$(PY) -m pip download --disable-pip-version-check --only-binary=:all: --dest wheelhouse --retries 1 --timeout 30 \
		$(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX)) ".[dev,lab]" "pip" "setuptools>=68" "wheel"
	cd web && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error --cache ../wheelhouse/npm-cache
	@du -sh wheelhouse | sed 's/$$/ (to rebuild the book offline: see book\/instructor.md; for learners: make workshop)/'

clean:
	rm -rf _build .pytest_cache
