# lottery: the two commands a user needs are `make demo` and `make test`.
SHELL := /bin/bash
VENV := .venv
# The system interpreter, not a per-user one (pyenv under /root): `lottery`
# must run for every user, and `sudo lottery` for root.
SYSTEM_PYTHON := /usr/bin/python3
PY := $(VENV)/bin/python
LOTTERY := $(VENV)/bin/lottery
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
BACKPORTS := /etc/apt/sources.list.d/lottery-bookworm-backports.sources
DEMO_CSV := build/demo.csv
# What `lottery` and `sudo lottery` run: a root-owned copy of this checkout,
# not the checkout itself, which others may be able to write.
ROOT_VENV := /usr/local/lib/lottery
ROOT_LINK := /usr/local/bin/lottery

.PHONY: setup system-packages venv install demo test lint bench soak clean

setup: system-packages venv install

# Debian 12's bpftool (7.1) cannot autoattach; bookworm-backports has 7.5.
# Each step runs only when something is missing, so setup is cheap to repeat.
system-packages:
	@need=""; \
	for tool in clang llc sudo taskset perf stress-ng runuser tmux prometheus promtool; do command -v $$tool >/dev/null || need=1; done; \
	PATH=$$PATH:/usr/sbin command -v runqlat >/dev/null || need=1; \
	$(SYSTEM_PYTHON) -c 'import venv, ensurepip' 2>/dev/null || need=1; \
	[ -f /usr/include/bpf/bpf_helpers.h ] || need=1; \
	{ PATH=$$PATH:/usr/sbin bpftool prog help 2>&1 | grep -q autoattach; } || need=1; \
	if [ -z "$$need" ]; then echo "system packages: present"; exit 0; fi; \
	if grep -q 'VERSION_CODENAME=bookworm' /etc/os-release && [ ! -f $(BACKPORTS) ]; then \
	  printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
	    | $(SUDO) tee $(BACKPORTS) >/dev/null; fi; \
	if ! command -v apt-get >/dev/null; then \
	  echo "setup: no apt-get here; install clang llvm libbpf-devel bpftool(>=7.3) sudo perf stress-ng tmux prometheus libbpf-tools (see docs/USAGE.md)"; exit 1; fi; \
	export DEBIAN_FRONTEND=noninteractive; \
	$(SUDO) apt-get update -q && \
	$(SUDO) apt-get install -y -q clang llvm sudo util-linux linux-perf stress-ng tmux python3 python3-venv libbpf-tools && \
	$(SUDO) apt-get install -y -q --no-install-recommends prometheus && \
	if grep -q 'VERSION_CODENAME=bookworm' /etc/os-release; then \
	  $(SUDO) apt-get install -y -q -t bookworm-backports bpftool libbpf-dev; \
	else $(SUDO) apt-get install -y -q bpftool libbpf-dev; fi

# The checkout's own environment, for make demo, test and bench: lottery
# editable, every extra, and the test extra.
venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	rm -rf $(VENV)
	$(SYSTEM_PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test,all]'
	touch $@

# /usr/local/bin/lottery, for every user and for `sudo lottery`: a wheel of
# this checkout installed with every extra into a root-owned environment,
# which no user can change after. Redone only when the sources the wheel is
# made of changed (their hash is kept beside it), so setup stays cheap.
install: venv
	@umask 022; \
	sum=$$(find pyproject.toml README.md orchestrator bpf -type f \( -name '*.py' -o -name '*.c' -o -name '*.h' \
	  -o -name '*.toml' -o -name '*.md' \) ! -path '*/__pycache__/*' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-64); \
	if [ "$$(cat $(ROOT_VENV)/source.sha256 2>/dev/null)" = "$$sum" ] && [ "$$(readlink $(ROOT_LINK))" = $(ROOT_VENV)/bin/lottery ]; then \
	  echo "setup: $(ROOT_LINK) -> $(ROOT_VENV)/bin/lottery (root-owned), up to date with $(CURDIR)"; exit 0; fi; \
	src=$$(mktemp -d) && trap 'rm -rf "$$src"' EXIT && \
	cp -a pyproject.toml README.md orchestrator bpf "$$src"/ && \
	$(PY) -m pip wheel -q --no-deps --no-build-isolation -w "$$src/dist" "$$src" >/dev/null && \
	whl=$$(echo "$$src"/dist/lottery-*.whl) && \
	{ [ -x $(ROOT_VENV)/bin/pip ] || { $(SUDO) $(SYSTEM_PYTHON) -m venv $(ROOT_VENV) && \
	  $(SUDO) $(ROOT_VENV)/bin/pip install -q --upgrade pip; }; } && \
	$(SUDO) $(ROOT_VENV)/bin/pip install -q "$$whl[all]" && \
	$(SUDO) $(ROOT_VENV)/bin/pip install -q --force-reinstall --no-deps "$$whl" && \
	echo "$$sum" | $(SUDO) tee $(ROOT_VENV)/source.sha256 >/dev/null && \
	$(SUDO) ln -sfn $(ROOT_VENV)/bin/lottery $(ROOT_LINK) && \
	echo "setup: $(ROOT_LINK) -> $(ROOT_VENV)/bin/lottery (root-owned): $$($(ROOT_LINK) --version) from $(CURDIR)"

# The main job: build, load, two workloads pinned to one CPU at nice 0 and 5,
# five samples into build/demo.csv, unload (also when a step fails).
# Its own instance (never one it did not load), its CSV under build/ (no
# tracked file changes); unloaded however the demo ends.
demo: setup
	$(LOTTERY) build
	@pin=/sys/fs/bpf/lottery-demo-$$$$; \
	$(SUDO) $(LOTTERY) load --pin-dir $$pin || exit 1; \
	trap "$(SUDO) $(LOTTERY) unload --pin-dir $$pin" EXIT; \
	rm -f $(DEMO_CSV); \
	cpu=$$(( $$(nproc) - 1 )); \
	$(LOTTERY) workload --nice 0 --duration 7 --cpu $$cpu & \
	$(LOTTERY) workload --nice 5 --duration 7 --cpu $$cpu & \
	sleep 0.5; \
	$(LOTTERY) dump --pin-dir $$pin --interval 1 --iterations 5 --top 8 --output $(DEMO_CSV) && wait

# The suite runs as two pytest sessions at once, each with its own temporary
# directory: most tests wait on real workloads, and every test keeps to its
# own tasks, pins and cgroups, so each holds beside the other as it must
# beside any busy machine.  Tests that add users share a half (useradd locks
# /etc/passwd).  Then, one at a time, the tests marked `alone`: those that
# load the machine themselves (stress-ng, fork loops) or hold a sample to its
# interval, which the other half's load would only add to.
TEST_HALF := tests/test_exporter.py tests/test_cli.py tests/test_privileges.py \
	tests/test_readers.py tests/test_bandwidth.py \
	tests/test_serve_privsep.py tests/test_hostile_pins.py tests/test_trace.py \
	tests/test_experiments.py
TEST_TMP := /tmp/lottery-tests-$(shell id -u)
PYTEST := $(PY) -m pytest -q -rs -p no:cacheprovider

test: setup lint
	@rm -rf $(TEST_TMP) && mkdir -p $(TEST_TMP); \
	$(PYTEST) -m "not alone" --basetemp=$(TEST_TMP)/one $(TEST_HALF) \
		> $(TEST_TMP)/one.log 2>&1 & one=$$!; \
	$(PYTEST) -m "not alone" --basetemp=$(TEST_TMP)/two \
		$(filter-out $(TEST_HALF),$(wildcard tests/test_*.py)) > $(TEST_TMP)/two.log 2>&1 & two=$$!; \
	wait $$one; first=$$?; wait $$two; second=$$?; \
	cat $(TEST_TMP)/one.log $(TEST_TMP)/two.log; \
	$(PYTEST) -m alone --basetemp=$(TEST_TMP)/alone tests; third=$$?; \
	[ $$first -eq 0 ] && [ $$second -eq 0 ] && [ $$third -eq 0 ]

lint:
	$(VENV)/bin/ruff check orchestrator tests benchmarks

bench: setup
	$(PY) -m benchmarks.run --output docs/PERFORMANCE.md

# Minutes of stress with two readers; prints the conservation distribution.
SOAK_SECONDS ?= 180
soak: setup
	$(PY) -m benchmarks.soak --seconds $(SOAK_SECONDS) --output docs/SOAK.md

clean:
	rm -rf build .pytest_cache
