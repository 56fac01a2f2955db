# The two commands of the README. Both build .venv from nothing on first use, installing
# with constraints.txt so pip never swaps the pinned CPU torch for a CUDA build.
PYTHON ?= python3
VENV ?= .venv
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)

.PHONY: demo test

demo: $(STAMP)  ## set up, then run the embedded default campaign: 2 cycles of 6 trials (replaces its previous results)
	$(VENV)/bin/campaign run --config search_spaces/balanced_6run.yaml --overwrite

test: $(STAMP)  ## set up, then run the test suite (real 2-cycle Ray Tune campaigns and a kill -9 resume included)
	$(VENV)/bin/python -m pytest -q

$(STAMP):
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[test]"
	rm -f $(VENV)/.installed-* && touch $@
