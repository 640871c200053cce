# The two commands of the README: `make lab` and `make test`. Everything else is set up from nothing.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.aelab-installed
# Jupyter refuses to run as root (containers, course VMs) unless told to.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)

# Keep Jupyter's files in the platform's standard places and its migration notice off stderr.
export JUPYTER_PLATFORM_DIRS := 1
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.PHONY: lab test labs bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[notebooks,test]"
	touch $(STAMP)

## make lab: create the environment if missing, then open JupyterLab on labs/ (prints the URL).
lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=labs --ServerApp.open_browser=False $(ROOT_FLAG)

## make test: create the environment if missing, then run unit tests and nbval on solutions/.
test: $(STAMP)
	$(BIN)/python -m pytest

## make labs: regenerate labs/ from solutions/ (the only way labs/ changes).
labs: $(STAMP)
	$(BIN)/aelab make-labs

## make bench: the speed figures (faces/s, training step, FLOP ratio, time to SSIM 0.90).
bench: $(STAMP)
	$(BIN)/aelab bench

clean:
	rm -rf $(VENV) .pytest_cache
