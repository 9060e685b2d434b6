# Two commands a newcomer needs (README):  make lab   |   make test
# Each sets everything up from nothing and says what it is doing.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: lab test setup data kernel lint pytest nbval sync check-sync sync-repo notebooks book clean

$(STAMP): pyproject.toml
	@echo "==> [1/3] creating the virtual environment $(VENV)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "==> [2/3] installing vit_lessons with torch, jupyter and test tools (first time: a few minutes, ~6 GB)"
	$(PY) -m pip install --upgrade --progress-bar off "pip>=23"
	$(PY) -m pip install --progress-bar off -e ".[dev,app,book]"
	@touch $(STAMP)

setup: $(STAMP)

data: setup
	@echo "==> [3/3] looking for Fashion-MNIST"
	@if ! $(PY) -m vit_lessons data --no-download >/dev/null 2>&1 && command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  echo "    installing Debian's dataset-fashion-mnist"; \
	  (apt-get install -y -q dataset-fashion-mnist || (apt-get update -q && apt-get install -y -q dataset-fashion-mnist)) >/dev/null; \
	fi
	$(PY) -m vit_lessons data

kernel: setup
	$(PY) -m ipykernel install --user --name vit-lessons --display-name "Python (vit-lessons)" >/dev/null
	@echo "    Jupyter kernel 'Python (vit-lessons)' registered"

lab: data kernel
	@echo "==> starting JupyterLab on notebooks/ (Ctrl-C to stop)"
	@echo "    one entry per lesson: the .py twins (what you edit, see notebooks/README.md) are hidden from the file"
	@echo "    browser; open one with File > Open from Path, e.g. 03_attention.py"
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks \
	  --ContentsManager.hide_globs='["__pycache__","*.pyc","*.pyo",".DS_Store","*~","[0-9][0-9]_*.py"]' \
	  $$([ "$$(id -u)" = 0 ] && echo --allow-root)

lint: setup
	@echo "==> ruff"
	$(VENV)/bin/ruff check vit_lessons tests notebooks

check-sync: setup
	@echo "==> every notebooks/*.py has an executed .ipynb with the same code"
	$(PY) -m pytest -q tests/test_notebooks.py

pytest: setup
	@echo "==> pytest tests/ and nbval over every notebook in notebooks/"
	VIT_LESSONS_MODE=ci $(PY) -m pytest tests --nbval notebooks --nbval-sanitize-with notebooks/nbval_sanitize.cfg --durations=15

# The course as a website, from the committed notebooks (never re-executed); works offline.
book: setup
	@echo "==> the book: README, lessons, solutions, glossary and results as a static website"
	$(PY) notebooks/book/build.py

test: data lint book pytest
	@echo "==> all checks passed"

# Re-execute notebooks after editing their .py (NB=notebooks/03_attention.py for one).
NB ?= $(wildcard notebooks/[0-9]*.py)
notebooks: setup
	VIT_LESSONS_MODE=ci $(PY) -m vit_lessons notebooks execute $(NB)

sync-repo: setup
	$(PY) -m vit_lessons notebooks sync-repo

clean:
	rm -rf $(VENV)
