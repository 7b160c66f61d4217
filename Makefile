# Two commands do all set-up on a fresh machine with Python 3.11:
#   make lab    opens the lessons in JupyterLab
#   make test   runs the tests
.DEFAULT_GOAL := help
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Jupyter refuses to start as root without --allow-root; an ordinary user needs nothing.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: help install lab test lint release check grade

help:
	@echo "make lab      set up (first time) and open the lessons in JupyterLab"
	@echo "make test     set up (first time) and run the tests"
	@echo "make install  set up .venv only"
	@echo "make release  regenerate lessons/ from solutions/"
	@echo "make check    run every solution notebook through the grader (full marks or fail)"
	@echo "make grade SUBMISSIONS=dir OUT=dir [JOBS=2]   grade a folder of submissions"

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

lab: $(STAMP)
	$(BIN)/jupyter lab $(ROOT_FLAG) --notebook-dir=lessons

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .

release: $(STAMP)
	$(BIN)/python -m autograder release

check: $(STAMP)
	$(BIN)/python -m autograder check

JOBS ?= 2
grade: $(STAMP)
	$(BIN)/python -m autograder grade $(SUBMISSIONS) --out $(OUT) --jobs $(JOBS)
