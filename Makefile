# Two commands do all set-up on a fresh machine with Python 3.11:
#   make lab    opens the lessons in JupyterLab
#   make test   runs the tests
.DEFAULT_GOAL := help
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The installer scripts/install.sh uses; autograder/gradescope.py pins the same for Gradescope.
UV := uv==0.13.9
# Jupyter refuses to start as root without --allow-root; an ordinary user needs nothing.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: help install system-deps lab formgrader test test-fast lint format release check grade report validate gpu-check

help:
	@echo "make lab      set up (first time) and open the lessons in JupyterLab"
	@echo "make formgrader  open nbgrader's formgrader on this course (instructors)"
	@echo "make test     set up (first time) and run the tests: lint, then every test"
	@echo "make test-fast  the unit and contract tests only (a few minutes; no grading runs)"
	@echo "make format   ruff-format the code and the solution notebooks"
	@echo "make install  set up .venv only"
	@echo "make release  regenerate lessons/ from solutions/"
	@echo "make check    run every solution notebook through the grader (full marks or fail)"
	@echo "make grade SUBMISSIONS=dir OUT=dir [JOBS=2]   grade a folder of submissions"
	@echo "make report OUT=dir   the class report of a graded folder (OUT/report/index.html)"
	@echo "make validate NB=notebook   check a notebook before you submit it (students)"
	@echo "make gpu-check   on a GPU: train to 99% and benchmark, one JSON (runs/gpu_check)"

$(STAMP): pyproject.toml scripts/install.sh
	bash scripts/install.sh $(PYTHON) $(VENV) $(UV)
	touch $(STAMP)

install: $(STAMP)

# Debian packages (a Hangul font; for the tests also bubblewrap and chromium), installed when
# missing; where they can't be, one message says which tests will skip (none may under CI=true).
system-deps:
	bash scripts/system-deps.sh test

# JupyterLab reads only the course's Jupyter config (jupyter/student or jupyter/instructor),
# never the user's own (~/.jupyter), and keeps its settings and workspaces under build/.
# The server starts in the repository so that Validate finds nbgrader_config.py; .venv/bin
# goes first on PATH because nbgrader runs `alembic` from there (and terminals get the
# course's python). tests/browser.py starts JupyterLab the same way.
JUPYTER_ENV = env -u JUPYTER_PATH -u JUPYTER_CONFIG_PATH PATH="$(CURDIR)/$(BIN):$$PATH" \
	JUPYTER_PREFER_ENV_PATH=1 \
	JUPYTERLAB_SETTINGS_DIR=$(CURDIR)/build/jupyter/user-settings \
	JUPYTERLAB_WORKSPACES_DIR=$(CURDIR)/build/jupyter/workspaces

lab: $(STAMP)
	bash scripts/system-deps.sh lab
	$(JUPYTER_ENV) JUPYTER_CONFIG_DIR=$(CURDIR)/jupyter/student \
	$(BIN)/jupyter lab $(ROOT_FLAG) --ServerApp.root_dir=lessons

formgrader: $(STAMP)
	$(JUPYTER_ENV) JUPYTER_CONFIG_DIR=$(CURDIR)/jupyter/instructor \
	$(BIN)/jupyter lab $(ROOT_FLAG) --ServerApp.root_dir=. --LabApp.default_url=/formgrader

test: $(STAMP) system-deps lint
	$(BIN)/python -m pytest

# Everything but the tests that run notebooks through the grader, kernels or a browser.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

# The package, the autograder, the tests and the solution notebooks (hidden tests included).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

release: $(STAMP)
	$(BIN)/python -m autograder release

check: $(STAMP)
	$(BIN)/python -m autograder check

JOBS ?= 2
grade: $(STAMP)
	$(BIN)/python -m autograder grade $(SUBMISSIONS) --out $(OUT) --jobs $(JOBS)

report: $(STAMP)
	@test -n "$(OUT)" || { echo "usage: make report OUT=<the --out folder of make grade>"; exit 2; }
	$(BIN)/python -m autograder report $(OUT)

# A student's check before submitting: visible tests, and test cells changed or deleted.
validate: $(STAMP)
	@test -n "$(NB)" || { echo "usage: make validate NB=lessons/<lesson>/<lesson>.ipynb"; exit 2; }
	$(BIN)/python -m autograder validate $(NB)

# On a machine with a GPU (a few minutes): the gpu config trained to 99 % valid exact match and
# the benchmark, on CUDA; the figures go to runs/gpu_check/gpu_check.json. The same path runs on
# the CPU in the tests (python -m transformer_course.gpu_check --device cpu --smoke).
gpu-check: $(STAMP)
	$(BIN)/python -m transformer_course.gpu_check --device cuda --out runs/gpu_check
