# Two commands: `make lab` runs the kit, `make test` passes every test.
# Both build .venv from python3 (3.11+) when it is missing or pyproject.toml changed,
# and do nothing extra when it is current. `make lab` installs what the lessons need;
# `make test` adds the test tools (pytest, Playwright, ruff, mypy, ...).
#
#   make lab ARGS="--no-browser"   options for JupyterLab (through `fanout-kit lab`)
#   make lab PYTHON=python3.12     another interpreter for .venv
#   make lab INSTALLER=pip         build .venv with pip alone (default: uv when it can be had)
#   make test PYTEST_ARGS="-x tests/test_server.py"
#   make test JOBS=0               the suite in one process, one test at a time
#   make wheelhouse                wheels for every platform into wheelhouse/ (for offline rooms)
PYTHON    ?= python3
INSTALLER ?= auto
ARGS      ?=
# pytest-xdist workers for `make test`. More than the cores: most tests wait on servers,
# kernels and browsers rather than compute. JOBS=0 runs the suite serially.
JOBS      ?= 4
VENV      := .venv
BIN       := $(VENV)/bin
LAB_STAMP := $(VENV)/.fanout-kit-lab-installed
STAMP     := $(VENV)/.fanout-kit-installed
WHEELHOUSE ?= wheelhouse

.PHONY: lab test lint typecheck browser bench clean wheelhouse

# What each stamp installs: the kit, or the kit with its test extra (which covers the lab).
$(LAB_STAMP): SPEC := .
$(STAMP): SPEC := .[test]

# With a wheelhouse (`make wheelhouse`, or a folder copied from the instructor), `make lab`
# installs from it alone, with no network (pip and uv both: the index off, the folder as
# the only source); `make test` takes what it can from it and the test tools from the index.
HAVE_WHEELHOUSE := $(if $(wildcard $(WHEELHOUSE)/*.whl),yes,)
$(LAB_STAMP): FROM := $(if $(HAVE_WHEELHOUSE),offline,)
$(STAMP): FROM := $(if $(HAVE_WHEELHOUSE),links,)
HOUSE := $(abspath $(WHEELHOUSE))

# INSTALLER=auto (default) uses uv when it is on PATH or can be put into .venv with one
# `pip install uv` (by $(PYTHON)'s own pip when it has one, else by the venv's), and pip
# otherwise, also when uv fails (say, offline with a wheelhouse that only pip is configured
# for); INSTALLER=uv insists on uv, INSTALLER=pip uses pip alone. Either way the same
# `pip install -e` with the ranges in pyproject.toml. .venv always gets its own pip, so
# `.venv/bin/pip` works whichever installer built it. The stamp records which one did.
# pip runs with -qq: errors only (a pip configured with extra indexes warns once per package).
$(LAB_STAMP) $(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "fanout-kit needs Python 3.11 or newer; found " + sys.version.split()[0] + ". Run: make PYTHON=python3.11 ...")'
	@set -e; start=$$(date +%s); extra=; tried=; \
	case "$(FROM)" in \
	  offline) echo "fanout-kit: installing from $(WHEELHOUSE)/ only (no network)"; \
	    export UV_OFFLINE=1 UV_NO_INDEX=1 UV_FIND_LINKS="$(HOUSE)" \
	      PIP_NO_INDEX=1 PIP_FIND_LINKS="$(HOUSE)" ;; \
	  links) export UV_FIND_LINKS="$(HOUSE)" PIP_FIND_LINKS="$(HOUSE)" ;; \
	esac; \
	case "$(INSTALLER)" in auto|uv|pip) ;; \
	  *) echo "fanout-kit: INSTALLER=$(INSTALLER) is not one of auto, uv, pip" >&2; exit 2 ;; esac; \
	uv=; \
	if [ "$(INSTALLER)" != pip ]; then \
	  if [ -x $(BIN)/uv ]; then uv=$(BIN)/uv; else uv=$$(command -v uv || true); fi; \
	fi; \
	if [ ! -x $(BIN)/python ] && [ -n "$$uv" ]; then \
	  UV_PYTHON_DOWNLOADS=never "$$uv" venv --quiet --seed \
	    --python "$$($(PYTHON) -c 'import sys; print(sys.executable)')" $(VENV); \
	elif [ ! -x $(BIN)/python ] && [ "$(INSTALLER)" != pip ] \
	    && $(PYTHON) -m pip --version >/dev/null 2>&1; then \
	  $(PYTHON) -m venv --without-pip $(VENV); \
	  if $(PYTHON) -m pip --python $(BIN)/python install -qq --disable-pip-version-check uv; \
	  then uv=$(BIN)/uv; extra=pip; else rm -rf $(VENV); tried=1; fi; \
	fi; \
	if [ ! -x $(BIN)/python ]; then \
	  $(PYTHON) -c 'import ensurepip' 2>/dev/null || { \
	    pkg=$$($(PYTHON) -c 'import sys; print("python3.%d-venv" % sys.version_info[1])'); \
	    sudo=; [ "$$(id -u)" = 0 ] || sudo="sudo "; \
	    echo "fanout-kit: \`$(PYTHON) -m venv\` cannot work here: Python's ensurepip module is missing." >&2; \
	    echo "fanout-kit: run \`$${sudo}apt-get install $$pkg\` (Debian, Ubuntu), then make again." >&2; \
	    exit 1; }; \
	  $(PYTHON) -m venv $(VENV); \
	fi; \
	if [ -z "$$uv" ] && [ "$(INSTALLER)" != pip ]; then \
	  if [ -z "$$tried" ] && $(BIN)/python -m pip install -qq --disable-pip-version-check uv; \
	  then uv=$(BIN)/uv; \
	  elif [ "$(INSTALLER)" = uv ]; then exit 1; \
	  else echo "fanout-kit: could not put uv into .venv (above); using pip"; fi; \
	fi; \
	if [ -n "$$uv" ]; then \
	  via="uv $$("$$uv" --version | cut -d' ' -f2)"; \
	  echo "fanout-kit: installing into .venv with $$via (make INSTALLER=pip to use pip)"; \
	  if ! UV_PYTHON_DOWNLOADS=never "$$uv" pip install --quiet --python $(BIN)/python $$extra -e '$(SPEC)'; then \
	    [ "$(INSTALLER)" = auto ] || exit 1; \
	    echo "fanout-kit: uv could not install (above); trying pip"; uv=; \
	  fi; \
	fi; \
	if [ -z "$$uv" ]; then \
	  [ -x $(BIN)/pip ] || $(BIN)/python -m ensurepip --default-pip >/dev/null || exit 1; \
	  via="pip $$($(BIN)/python -m pip --version | cut -d' ' -f2)"; \
	  echo "fanout-kit: installing into .venv with $$via"; \
	  $(BIN)/python -m pip install -qq --disable-pip-version-check -e '$(SPEC)'; \
	fi; \
	echo "$$via" > $@; \
	if [ "$@" = "$(STAMP)" ]; then cp $@ $(LAB_STAMP); fi; \
	echo "fanout-kit: .venv ready in $$(( $$(date +%s) - start )) s ($$via)"

lab: $(LAB_STAMP)
	@$(BIN)/fanout-kit lab $(ARGS)

# Lint first (seconds), then a browser for the JupyterLab tests (found, or installed: see
# tools/find_browser.py), then the suite on $(JOBS) parallel workers (how tests are spread
# over them: tests/conftest.py).
test: lint browser
	$(BIN)/python -m pytest -n $(JOBS) $(PYTEST_ARGS)

# Lint: ruff, then mypy (strict, config in pyproject.toml) over the package.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m mypy

typecheck: $(STAMP)
	$(BIN)/python -m mypy

browser: $(STAMP)
	@$(BIN)/python tools/find_browser.py --install

bench: $(STAMP)
	$(BIN)/python bench/startup.py
	$(BIN)/python bench/publish.py
	$(BIN)/python bench/fanout.py
	$(BIN)/python bench/board.py

# Every wheel `make lab` needs, for Linux x86_64/aarch64, macOS arm64 and Windows x64 and
# CPython 3.11-3.14, into $(WHEELHOUSE)/ (git-ignored): copy the folder (and the checkout)
# to machines without network, where `make lab` then installs from it. Needs PyPI once.
wheelhouse: $(LAB_STAMP)
	$(BIN)/python tools/wheelhouse.py --out $(WHEELHOUSE)

clean:
	rm -rf $(VENV) .fanout-kit build *.egg-info
