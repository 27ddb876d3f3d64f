# Two commands for a fresh clone (see README.md):
#   make release   set everything up, then build release/ and solutions/ from source/
#   make test      set up if needed, then run the whole test suite (what CI runs: .ci/run)
# and a quick lane for the unit tests (no nbgrader, no notebooks, no sandboxes):
#   make test-quick
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: release test test-quick setup isolation browser clean

setup: $(STAMP) isolation browser

$(STAMP): requirements.txt pyproject.toml shared/pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q -e ./shared -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

# $(call apt-install,COMMAND,PACKAGE,MESSAGE): as root on Debian or Ubuntu, install PACKAGE when COMMAND
# is missing; elsewhere print MESSAGE.
define apt-install
	@command -v $(1) >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get install -y -q $(2) >/dev/null 2>&1 || \
	      { apt-get update -q >/dev/null && apt-get install -y -q $(2) >/dev/null; }; \
	  else \
	    echo "$(3)"; \
	  fi; }
endef

# Grading runs student code only inside bubblewrap (docs/grading.md, "Isolation").
isolation:
	$(call apt-install,bwrap,bubblewrap,warning: bubblewrap (bwrap) is missing: grading will refuse to run without \
	  --no-isolation. Install it (Debian/Ubuntu: sudo apt-get install bubblewrap).)

# The written-answer pages are checked in a real browser (tests/test_answers_browser.py); without
# Chromium that test is skipped and says so.
browser:
	$(call apt-install,chromium,chromium,note: Chromium is missing: the browser test of the answer pages will be \
	  skipped. Install it (Debian: sudo apt-get install chromium) to run it.)

release: setup
	PATH="$(abspath $(VENV))/bin:$$PATH" $(PY) -m autograder build

test: setup
	PATH="$(abspath $(VENV))/bin:$$PATH" $(PY) -m pytest

test-quick: setup
	PATH="$(abspath $(VENV))/bin:$$PATH" $(PY) -m pytest -m "not integration"

clean:
	rm -rf $(VENV) build
