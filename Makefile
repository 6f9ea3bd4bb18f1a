# Two commands for a fresh machine: `make demo` and `make test`.
# Each creates .venv and installs what it needs (CPU TensorFlow) on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test lint clean

$(STAMP): setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip >/dev/null
	$(PY) -m pip install "tensorflow-cpu==2.15.1" -e ".[cpu,test]"
	# Its declared dependency on the full tensorflow would replace tensorflow-cpu.
	$(PY) -m pip install --no-deps "tensorflow-serving-api==2.15.1"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m dvml_tf.main --model_dir=runs/digits_demo

lint: $(STAMP)
	$(VENV)/bin/ruff check .

test: lint
	$(PY) -m pytest -q tests

clean:
	rm -rf $(VENV) runs
