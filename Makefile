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

# The solution that CI runs under a capped instruction set (aelab.portable's sse41: another CPU's
# arithmetic, about twice as slow; avx2 costs nothing) instead of the default one: lab 01, the
# cheapest that trains (make test-portable runs every solution under every setting);
# docs/DEVELOPING.md, "What nbval compares".
CAPPED_IN_CI := solutions/01-autoencoders.ipynb
CAPPED_SETTING := sse41
# make test's pytest processes (pytest-xdist; each test file, each notebook, stays in one process):
# the notebooks and the grader's kernels run one torch thread each, so two cores take two at a time.
WORKERS ?= 2

.PHONY: lab instructor test test-portable labs bench clean

# What a student needs (make lab): the kit, JupyterLab and the kit's kernel. $(STAMP) adds the test,
# grading (nbgrader, otter-grader and the Jupytext it brings) and cluster (Dask) extras for make test
# and make instructor, in the same environment: make lab then still shows a student's tools only,
# because it runs JupyterLab with etc/student/ (instructor extensions disabled) first on its config path.
LAB_STAMP := $(VENV)/.aelab-lab-installed
# JupyterLab's settings for the kit's environment (no "Jupyter news?" pop-up, no update checks).
LAB_SETTINGS := $(VENV)/share/jupyter/lab/settings/overrides.json
# The kit's kernel (aelab.kernel: the threading policy of aelab.threads, then IPython), which the labs name.
KERNEL := $(VENV)/share/jupyter/kernels/aelab/kernel.json
JUPYTER_LAB = $(BIN)/jupyter lab --ServerApp.open_browser=False --MultiKernelManager.default_kernel_name=aelab $(ROOT_FLAG)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[notebooks,test,grading,cluster,provenance]"
	touch $(STAMP)

$(LAB_STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[notebooks]"
	touch $(LAB_STAMP)

$(LAB_SETTINGS): etc/jupyterlab/overrides.json | $(LAB_STAMP)
	mkdir -p $(dir $@)
	cp etc/jupyterlab/overrides.json $@

$(KERNEL): src/aelab/kernel.py | $(LAB_STAMP)
	$(BIN)/python -m aelab.kernel install --prefix $(VENV)

## make lab: create the student's environment if missing, then open JupyterLab on labs/ (prints the URL).
lab: $(LAB_STAMP) $(LAB_SETTINGS) $(KERNEL)
	JUPYTER_CONFIG_PATH=$(CURDIR)/etc/student $(JUPYTER_LAB) --notebook-dir=labs

## make instructor: the environment with the grading and cluster tools, and JupyterLab with them on
## the repository (nbgrader's menu and formgrader, Jupytext); docs/instructors.md, "make instructor".
instructor: $(STAMP) $(LAB_SETTINGS) $(KERNEL)
	$(JUPYTER_LAB) --notebook-dir=.

## make test: create the environment if missing, then run unit tests and nbval on solutions/ in
## $(WORKERS) processes ($(CAPPED_IN_CI) under the $(CAPPED_SETTING) setting in place of its default run,
## in a child process that tests/test_capped.py starts first; conftest.py: the longest files first),
## all but the rest of the portable sweep (-m "not portable": make test-portable's); ruff's lint and
## format check first.
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest --numprocesses=$(WORKERS) --dist=loadfile --no-loadscope-reorder -m "not portable" \
		$(addprefix --capped=$(CAPPED_SETTING):,$(CAPPED_IN_CI))

## make test-portable: nbval on every solution under the default, avx2 and sse41 settings (other CPUs),
## and every solution's exercises graded under sse41 (tests/test_portable.py).
test-portable: $(STAMP)
	$(BIN)/python -m aelab.portable nbval --settings default,avx2,sse41 solutions/*.ipynb
	$(BIN)/python -m pytest -p no:cacheprovider tests/test_portable.py

## make labs: regenerate labs/ from solutions/ (the only way labs/ changes).
labs: $(STAMP)
	$(BIN)/aelab make-labs

## make bench: the speed figures (faces/s, training step, FLOP ratio, time to SSIM 0.90).
bench: $(STAMP)
	$(BIN)/aelab bench

clean:
	rm -rf $(VENV) .pytest_cache
