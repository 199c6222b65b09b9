# Two commands on a fresh clone:  make demo   and   make test
# Both create .venv if it is missing and install rerankft into it.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# torch is installed first and pinned: on these CPU machines torch==2.13.0 is a CPU wheel
# (pip finds it locally); an unpinned torch would pull a multi-GB CUDA build. On a GPU
# machine use e.g. `make TORCH_SPEC="torch" install`.
TORCH_SPEC ?= torch==2.13.0
EXTRAS ?= dev,integrations,onnx,openvino
PYTEST_ARGS ?= -m "not slow"

.PHONY: install demo test test-all clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[$(EXTRAS)]"
	touch $@

demo: install
	HF_HUB_OFFLINE=1 $(PY) scripts/train.py

test: install
	HF_HUB_OFFLINE=1 $(PY) -m pytest $(PYTEST_ARGS)

test-all: install
	HF_HUB_OFFLINE=1 $(PY) -m pytest

clean:
	rm -rf $(VENV) outputs .cache .pytest_cache
