# Two commands for a fresh clone (see README.md):
#   make release   set everything up, then build release/ and solutions/ from source/
#   make test      set up if needed, then run the whole test suite
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: release test setup clean

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml shared/pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q -e ./shared -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

release: $(STAMP)
	PATH="$(abspath $(VENV))/bin:$$PATH" $(PY) -m autograder build

test: $(STAMP)
	PATH="$(abspath $(VENV))/bin:$$PATH" $(PY) -m pytest

clean:
	rm -rf $(VENV) build
