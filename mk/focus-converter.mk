# mk/focus-converter.mk -- the FinOps Foundation's focus-converter 1.0.0, for bench/bench_aws_cur.py only.
#
# Included from the main Makefile, then:
#   make focus-converter          build $(FOCUS_CONVERTER_VENV) once; a second run does nothing
#   make focus-converter-clean    remove it
#
# Tests never need it. The venv lives under bench/out/ (ignored by git).
#
# focus-converter 1.0.0 does not run as PyPI resolves it today; the dependency fixes:
#   * multimethod < 1.11: its focus-validator 1.0.0 imports pandera 0.17, which imports
#     `multimethod.overload`, removed in multimethod 1.11 (ImportError at start-up);
#   * click < 8.2: its typer 0.9 builds `--flag/--no-flag` options that click 8.2 rejects
#     ("TypeError: Secondary flag is not valid for non-boolean flag").
# Everything else is pinned to what the install resolved to on 2026-11-23 (Python 3.11), so the
# environment is the same on every machine (FOCUS_CONVERTER_PINS= lets pip resolve freely).
# Known behaviour kept in mind by the benchmark: it reads the legacy CUR only with snake-case
# column names and typed dates (the CUR's Parquet form; a CSV fails with "expected duration or
# datetime, got str"), and after an error its worker processes can hang: run it with a timeout.

FOCUS_CONVERTER_VENV ?= bench/out/venv-focus-converter
FOCUS_CONVERTER_PYTHON ?= python3.11
FOCUS_CONVERTER_VERSION ?= 1.0.0
FOCUS_CONVERTER_PINS ?= \
	multimethod==1.10 click==8.1.8 \
	annotated-types==0.8.0 certifi==2026.10.18 charset-normalizer==3.5.2 idna==3.20 \
	Jinja2==3.1.6 markdown-it-py==4.3.0 MarkupSafe==3.0.4 mdurl==0.1.2 mypy_extensions==1.2.0 \
	networkx==3.6.1 numpy==1.26.4 packaging==26.3 pandas==2.3.3 pandasql==0.7.3 \
	pandera==0.17.2 pillow==10.4.0 polars==0.20.10 pyarrow==14.0.2 pydantic==2.14.3 \
	pydantic_core==2.50.4 Pygments==2.21.0 python-dateutil==4.0.0 pytz==2023.4 PyYAML==6.0.3 \
	requests==2.34.2 rich==13.9.4 SQLAlchemy==2.1.9 sqlglot==18.17.0 tabulate==0.10.0 \
	tqdm==4.70.1 typeguard==4.6.0 typer==0.9.4 typing-inspect==0.9.0 typing-inspection==0.4.5 \
	typing_extensions==4.16.0 tzdata==2026.6 urllib3==2.8.0 wrapt==2.5.2 focus_validator==1.0.0

FOCUS_CONVERTER_STAMP := $(FOCUS_CONVERTER_VENV)/.focus-converter-$(FOCUS_CONVERTER_VERSION).stamp
FOCUS_CONVERTER_MK := $(lastword $(MAKEFILE_LIST))

.PHONY: focus-converter focus-converter-clean

focus-converter: $(FOCUS_CONVERTER_STAMP)

$(FOCUS_CONVERTER_STAMP): $(FOCUS_CONVERTER_MK)
	@case "$(FOCUS_CONVERTER_VENV)" in ""|.|./|/|..|../|.venv|./.venv|.venv/) \
	  echo "focus-converter.mk: refusing FOCUS_CONVERTER_VENV='$(FOCUS_CONVERTER_VENV)'" >&2; exit 1;; esac
	@set -e; \
	rm -rf "$(FOCUS_CONVERTER_VENV)"; \
	"$(FOCUS_CONVERTER_PYTHON)" -m venv "$(FOCUS_CONVERTER_VENV)"; \
	pins="$(FOCUS_CONVERTER_VENV)/constraints.txt"; \
	: > "$$pins"; \
	for p in $(FOCUS_CONVERTER_PINS); do echo "$$p" >> "$$pins"; done; \
	"$(FOCUS_CONVERTER_VENV)/bin/python" -m pip install --quiet --disable-pip-version-check \
	  --constraint "$$pins" "focus-converter==$(FOCUS_CONVERTER_VERSION)" \
	  "multimethod<1.11" "click<8.2"; \
	"$(FOCUS_CONVERTER_VENV)/bin/focus-converter" --help > /dev/null; \
	touch "$@"; \
	echo "focus-converter.mk: focus-converter $(FOCUS_CONVERTER_VERSION) ready in $(FOCUS_CONVERTER_VENV)"

focus-converter-clean:
	@case "$(FOCUS_CONVERTER_VENV)" in ""|.|./|/|..|../|.venv|./.venv|.venv/) \
	  echo "focus-converter.mk: refusing FOCUS_CONVERTER_VENV='$(FOCUS_CONVERTER_VENV)'" >&2; exit 1;; esac
	rm -rf "$(FOCUS_CONVERTER_VENV)"
