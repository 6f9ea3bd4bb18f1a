# Two commands for a fresh machine: `make demo` and `make test`.
# Each creates .venv with `python3` (3.11-3.13) and installs the default stack with every
# extra on first use: TensorFlow 2.21 with Keras 3. `make test-reference` proves the
# package's losses equal to TF-Addons' on the reference stack (TensorFlow 2.15.1, TF-Addons
# 0.23.0, no Keras 3) in .venv-reference with Python 3.11.
PYTHON ?= python3
REFERENCE_PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
REFERENCE_VENV := .venv-reference
REFERENCE_STAMP := $(REFERENCE_VENV)/.installed

.PHONY: install demo test lint test-reference clean

$(STAMP): setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip >/dev/null
	# A .venv made before the port holds tf-keras and tensorflow-hub (Keras 2), or
	# tensorflow-cpu 2.15, whose files the full tensorflow would share.
	$(PY) -m pip uninstall -y -q tensorflow-cpu tensorflow-addons tf-keras tensorflow-hub \
		2>/dev/null || true
	$(PY) -m pip install -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m dvml_tf.main --model_dir=runs/glyphs_demo

lint: $(STAMP)
	$(VENV)/bin/ruff check .

test: lint
	$(PY) -m pytest -q --durations=25 tests

$(REFERENCE_STAMP): requirements-reference.txt setup.py
	$(REFERENCE_PYTHON) -m venv $(REFERENCE_VENV)
	$(REFERENCE_VENV)/bin/python -m pip install --upgrade pip >/dev/null
	$(REFERENCE_VENV)/bin/python -m pip install -r requirements-reference.txt
	$(REFERENCE_VENV)/bin/python -m pip install --no-deps -e .
	touch $(REFERENCE_STAMP)

# The parity of the package's own losses with TF-Addons: values, gradients and a
# Keras-free training loop (Keras 3 and TF-Addons never share an environment).
test-reference: $(REFERENCE_STAMP)
	$(REFERENCE_VENV)/bin/python -m pytest -q tests/unit/losses

clean:
	rm -rf $(VENV) $(REFERENCE_VENV) runs
