# mk/validator.mk -- the official FOCUS validator in its own virtual environment.
#
# Include from the main Makefile (`include mk/validator.mk`), then:
#   make validator           build $(VALIDATOR_VENV) once; a second run does nothing
#   make validator-clean     remove it
#
# focus-validator 2.2.1 needs Python >= 3.12 (pip on 3.11 silently installs the 2024 release
# 1.0.0), so it cannot share the project's venv. pyarrow is capped below 26 because pyarrow 26
# needs NumPy 2 and the validator pins NumPy 1.26. All other packages are pinned below to the
# versions the install resolved to on 2026-11-23, so the environment is the same on every machine
# (VALIDATOR_PINS= lets pip resolve freely). Needs only python3.12 with venv/ensurepip and PyPI.
# See docs/focus-validator.md; scripts/focus_validate.py runs the validator.

VALIDATOR_VENV ?= .venv-validator
PYTHON312 ?= python3.12
VALIDATOR_VERSION ?= 2.2.1
VALIDATOR_PYARROW ?= pyarrow<26
VALIDATOR_PINS ?= \
	annotated-types==0.8.0 attrs==26.1.0 certifi==2026.10.18 charset-normalizer==3.5.2 \
	ddt==1.7.2 duckdb==1.5.6 graphviz==0.21 idna==3.20 jsonschema==4.26.0 \
	jsonschema-specifications==2025.9.1 multimethod==2.0.2 mypy_extensions==1.2.0 \
	numpy==1.26.4 packaging==26.3 pandas==2.3.3 pandasql==0.7.3 pandera==0.26.1 \
	polars==1.44.2 polars-runtime-32==1.44.2 pyarrow==25.0.1 pydantic==2.14.3 \
	pydantic_core==2.50.4 python-dateutil==4.0.0 pytz==2025.2 PyYAML==6.0.3 \
	referencing==0.37.0 requests==2.34.2 rpds-py==2026.9.1 SQLAlchemy==2.1.9 \
	sqlglot==27.29.0 tabulate==0.10.0 typeguard==4.6.0 typing-inspect==0.9.0 \
	typing-inspection==0.4.5 typing_extensions==4.16.0 tzdata==2026.6 urllib3==2.8.0

# The stamp lives inside the venv: deleting the venv also forgets the stamp. It depends on this
# file, so changing a version or a pin rebuilds the venv on the next `make validator`.
VALIDATOR_STAMP := $(VALIDATOR_VENV)/.focus-validator-$(VALIDATOR_VERSION).stamp
VALIDATOR_MK := $(lastword $(MAKEFILE_LIST))

.PHONY: validator validator-clean

validator: $(VALIDATOR_STAMP)

# If `$(PYTHON312)` does not run (a pyenv shim for a version that is installed but not selected
# says "command not found"), look for a pyenv-installed 3.12 before giving up.
$(VALIDATOR_STAMP): $(VALIDATOR_MK)
	@case "$(VALIDATOR_VENV)" in ""|.|./|/|..|../|.venv|./.venv|.venv/) \
	  echo "validator.mk: refusing VALIDATOR_VENV='$(VALIDATOR_VENV)'" >&2; exit 1;; esac
	@set -e; \
	py="$(PYTHON312)"; \
	if ! "$$py" -c 'import sys; sys.exit(sys.version_info[:2] < (3, 12))' >/dev/null 2>&1; then \
	  alt=""; \
	  if command -v pyenv >/dev/null 2>&1; then \
	    for v in $$(pyenv versions --bare 2>/dev/null | grep -E '^3\.12(\.|$$)' | sort -V); do \
	      alt="$$(pyenv root)/versions/$$v/bin/python3.12"; \
	    done; \
	  fi; \
	  if [ -n "$$alt" ] && [ -x "$$alt" ]; then \
	    echo "validator.mk: '$$py' does not run Python >= 3.12; using $$alt"; py="$$alt"; \
	  else \
	    echo "validator.mk: '$$py' does not run Python >= 3.12; install Python 3.12 and" \
	      "pass PYTHON312=/path/to/python3.12" >&2; \
	    exit 1; \
	  fi; \
	fi; \
	echo "validator.mk: creating $(VALIDATOR_VENV) with $$("$$py" -c 'import sys; print(sys.executable, sys.version.split()[0])')"; \
	rm -rf "$(VALIDATOR_VENV)"; \
	"$$py" -m venv "$(VALIDATOR_VENV)"; \
	pins="$(VALIDATOR_VENV)/constraints.txt"; \
	: > "$$pins"; \
	for p in $(VALIDATOR_PINS); do echo "$$p" >> "$$pins"; done; \
	"$(VALIDATOR_VENV)/bin/python" -m pip install --quiet --disable-pip-version-check \
	  --constraint "$$pins" "focus-validator==$(VALIDATOR_VERSION)" "$(VALIDATOR_PYARROW)"; \
	"$(VALIDATOR_VENV)/bin/python" -c "import importlib.metadata as m, sys; v = m.version('focus-validator'); sys.exit(None if v == '$(VALIDATOR_VERSION)' else 'validator.mk: got focus-validator ' + v)"; \
	test -x "$(VALIDATOR_VENV)/bin/focus-validator"; \
	"$(VALIDATOR_VENV)/bin/python" -c "import focus_validator.main, focus_validator.validator"; \
	touch "$@"; \
	echo "validator.mk: focus-validator $(VALIDATOR_VERSION) ready in $(VALIDATOR_VENV)"

validator-clean:
	@case "$(VALIDATOR_VENV)" in ""|.|./|/|..|../|.venv|./.venv|.venv/) \
	  echo "validator.mk: refusing VALIDATOR_VENV='$(VALIDATOR_VENV)'" >&2; exit 1;; esac
	rm -rf "$(VALIDATOR_VENV)"
