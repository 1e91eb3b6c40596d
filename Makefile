# SPDX-License-Identifier: Apache-2.0
# One Makefile. Variants build into $(OUT): build/ (default), build/asan,
# build/ubsan, build/tsan. `make` installs the Debian packages it needs.
PYTHON ?= /usr/bin/python3
CC ?= gcc
VARIANT ?=
OUT ?= build$(if $(VARIANT),/$(VARIANT))
PREFIX ?= /usr/local

PY_INC := $(shell $(PYTHON) -c 'import sysconfig;print(sysconfig.get_paths()["include"])' 2>/dev/null)
SAN_asan := -fsanitize=address,undefined -fno-sanitize-recover=all
SAN_ubsan := -fsanitize=undefined -fno-sanitize-recover=all
SAN_tsan := -fsanitize=thread -fno-builtin-memcpy -fno-builtin-memset
SAN := $(SAN_$(VARIANT))
OPT := $(if $(VARIANT),-O1,-O2)

WARN := -std=c11 -Wall -Wextra -Werror -g -fno-omit-frame-pointer -D_GNU_SOURCE
CFLAGS_COMMON := $(WARN) $(OPT) $(SAN) -MMD -MP
RT_CFLAGS := $(CFLAGS_COMMON) -fPIC -fvisibility=hidden -Iruntime -Ifork -I$(PY_INC)
AGG_CFLAGS := $(CFLAGS_COMMON) -Iruntime -Iaggregator -Itools
AGG_LIBS := -lurcu -lurcu-cds -ljson-c -lpthread -lm -ldl

RT_SRCS := runtime/ring.c runtime/sys.c runtime/pyframe.c runtime/nm.c runtime/mh.c runtime/smp.c runtime/nat.c runtime/rt.c runtime/ext.c fork/fk.c
AGG_SRCS := aggregator/agg.c aggregator/drn.c aggregator/tbl.c aggregator/stk.c aggregator/rpt.c aggregator/safefile.c aggregator/nv.c runtime/ring.c runtime/sys.c
TOOL_SRCS := tools/cli.c tools/view.c tools/gui.c tools/cfg.c tools/exp.c tools/ai.c
TOOL_LIBS := -lmicrohttpd -lyaml -lcurl -lcrypto

RT_OBJS := $(RT_SRCS:%.c=$(OUT)/rt/%.o)
BIN_OBJS := $(AGG_SRCS:%.c=$(OUT)/agg/%.o) $(TOOL_SRCS:%.c=$(OUT)/agg/%.o)

LIB := $(OUT)/lib/scalene/libscalene.so
BIN := $(OUT)/bin/scalene
PYPKG := $(OUT)/lib/scalene/python/scalene/__init__.py

# The web viewer (gui/, TypeScript): `node build.mjs` in gui/ writes the page
# template and its script and style to gui/dist/; `scalene view` reads them
# from <prefix>/lib/scalene/gui/, next to the runtime. One stamp for all
# variants, so the bundle is built once; each variant copies it.
GUI_FILES := index.html scalene-gui.js scalene-gui.css
GUI_DIR := $(OUT)/lib/scalene/gui
GUI_ASSETS := $(addprefix $(GUI_DIR)/,$(GUI_FILES))
GUI_STAMP := build/gui-dist.stamp
GUI_SRCS := $(shell find gui -name node_modules -prune -o -name dist -prune -o -type f -print 2>/dev/null)
GUI_LOCK := $(wildcard gui/package-lock.json)

UNIT_TESTS := $(patsubst tests/unit/%.c,$(OUT)/tests/%,$(wildcard tests/unit/test_*.c))

.PHONY: pyver-test all deps gui gui-test test check unit e2e asan ubsan tsan check-asan check-ubsan check-tsan install uninstall wheel lint clean bench example fuzz fuzz-replay

all: $(OUT)/.deps $(LIB) $(BIN) $(PYPKG) gui

# Installs missing Debian packages (root: apt-get; otherwise sudo). Cheap when all are present.
$(OUT)/.deps: tools/install-deps.sh
	@mkdir -p $(OUT)
	@sh tools/install-deps.sh
	@touch $@
deps:
	@sh tools/install-deps.sh

$(OUT)/rt/%.o: %.c | $(OUT)/.deps
	@mkdir -p $(dir $@)
	$(CC) $(RT_CFLAGS) -c $< -o $@

$(OUT)/agg/%.o: %.c | $(OUT)/.deps
	@mkdir -p $(dir $@)
	$(CC) $(AGG_CFLAGS) -c $< -o $@

$(LIB): $(RT_OBJS)
	@mkdir -p $(dir $@)
	$(CC) -shared $(SAN) -o $@ $^ -ldl -lpthread -lm -Wl,--version-script=runtime/exports.map

$(BIN): $(BIN_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(SAN) -o $@ $^ $(AGG_LIBS) $(TOOL_LIBS)

# The program's PYTHONPATH gets lib/scalene/python (agg.c): the package
# (scalene_profiler) and a sitecustomize that defines @profile there, never
# in the system's site-packages.
$(PYPKG): $(wildcard tools/python/scalene/*.py) tools/python/sitecustomize.py
	@mkdir -p $(dir $@)
	cp tools/python/scalene/*.py $(dir $@)
	cp tools/python/sitecustomize.py $(dir $@)..

# Until gui/build.mjs exists the web view is not built; --cli works anyway
# and the web modes say the files are missing.
ifneq ($(wildcard gui/build.mjs),)
gui: $(GUI_ASSETS)
else
gui:
	@echo "make: gui/build.mjs not found: the web view is not built (scalene view --cli works)"
endif

# npm ci replaces node_modules/; the touch marks when, for the rule's date check.
gui/node_modules: $(GUI_LOCK) | $(OUT)/.deps
	cd gui && npm ci --no-audit --no-fund
	@mkdir -p $@ && touch $@

$(GUI_STAMP): $(GUI_SRCS) $(if $(GUI_LOCK),gui/node_modules) | $(OUT)/.deps
	cd gui && node build.mjs
	@for f in $(GUI_FILES); do test -f gui/dist/$$f || { echo "make: node build.mjs wrote no gui/dist/$$f" >&2; exit 1; }; done
	@mkdir -p $(dir $@)
	@touch $@

$(GUI_DIR)/%: $(GUI_STAMP)
	@mkdir -p $(dir $@)
	cp gui/dist/$* $@

# pyframe reads a live interpreter: this test embeds one, $(PYTHON)'s
# (python3-embed), and once more each CPython found under `pyenv root`
# (tests only: the runtime itself is built with no Python header, and reads
# every supported version from the one build).
PYF_TEST_DEPS := tests/unit/test_pyframe.c runtime/pyframe.c runtime/sys.c runtime/pyframe.h runtime/pyframe_versions.inc runtime/sys.h runtime/record.h tests/unit/tap.h
$(OUT)/tests/test_pyframe: $(PYF_TEST_DEPS)
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(OPT) $(SAN) -fvisibility=hidden -Iruntime -Itests/unit -I$(PY_INC) -o $@ $(filter %.c,$^) $(shell pkg-config --libs python3-embed) -ldl -lpthread

PYENV_ROOT := $(shell pyenv root 2>/dev/null)
PYF_VERSIONS := 3.8 3.9 3.10 3.11 3.12 3.13
# the newest 3.X.* under pyenv root that has the shared library, or nothing
pyf_home = $(patsubst %/lib/libpython$(1).so,%,$(lastword $(wildcard $(PYENV_ROOT)/versions/$(1).[0-9]*/lib/libpython$(1).so)))
PYF_FOUND := $(foreach v,$(PYF_VERSIONS),$(if $(call pyf_home,$(v)),$(v)))
PYF_MISSING := $(filter-out $(PYF_FOUND),$(PYF_VERSIONS))
PYF_TESTS := $(PYF_FOUND:%=$(OUT)/tests/pyver/test_pyframe-%)
$(OUT)/tests/pyver/test_pyframe-%: $(PYF_TEST_DEPS)
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(OPT) $(SAN) -fvisibility=hidden -Iruntime -Itests/unit -I$(call pyf_home,$*)/include/python$* -o $@ $(filter %.c,$^) -L$(call pyf_home,$*)/lib -Wl,-rpath,$(call pyf_home,$*)/lib -lpython$* -ldl -lpthread -lm

# one CPython version's walker test: make pyver-test V=3.9
pyver-test: $(OUT)/tests/pyver/test_pyframe-$(V)
	$<

# mh interposes malloc and memcpy: linked into the test executable, its
# hooks are this process's allocator. Not for ASan/TSan, whose runtimes must
# own malloc (the tsan target leaves it out). -fno-builtin: the compiler
# would otherwise drop malloc/free pairs and inline fixed-size memcpy.
MH_TEST_SRCS := tests/unit/test_mh.c runtime/mh.c runtime/nm.c runtime/pyframe.c runtime/ring.c runtime/sys.c
$(OUT)/tests/test_mh: $(MH_TEST_SRCS) runtime/mh.h runtime/nm.h runtime/pyframe.h runtime/ring.h runtime/record.h tests/unit/tap.h
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(OPT) $(SAN) -fno-builtin -Iruntime -Itests/unit -I$(PY_INC) -o $@ $(MH_TEST_SRCS) -ldl -lpthread -lm

$(OUT)/tests/test_%: tests/unit/test_%.c $(OUT)/agg/runtime/ring.o $(OUT)/agg/runtime/sys.o
	@mkdir -p $(dir $@)
	$(CC) $(AGG_CFLAGS) -Itests/unit -o $@ $^ $(AGG_LIBS)

# tbl and rpt against synthetic records: links the aggregator's tables and report.
$(OUT)/tests/test_tbl_mem: tests/unit/test_tbl_mem.c $(OUT)/agg/aggregator/tbl.o $(OUT)/agg/aggregator/stk.o $(OUT)/agg/aggregator/rpt.o $(OUT)/agg/aggregator/safefile.o $(OUT)/agg/aggregator/nv.o tests/unit/tap.h
	@mkdir -p $(dir $@)
	$(CC) $(AGG_CFLAGS) -Itests/unit -o $@ $(filter %.c %.o,$^) $(AGG_LIBS)

# the report's text is UTF-8 whatever the processes send (docs/REPORT.md).
$(OUT)/tests/test_rpt_utf8: tests/unit/test_rpt_utf8.c $(OUT)/agg/aggregator/tbl.o $(OUT)/agg/aggregator/stk.o $(OUT)/agg/aggregator/rpt.o $(OUT)/agg/aggregator/safefile.o $(OUT)/agg/aggregator/nv.o tests/unit/tap.h
	@mkdir -p $(dir $@)
	$(CC) $(AGG_CFLAGS) -Itests/unit -o $@ $(filter %.c %.o,$^) $(AGG_LIBS)

# tbl's GPU merging against synthetic records and polls (issue 7).
$(OUT)/tests/test_tbl_gpu: tests/unit/test_tbl_gpu.c $(OUT)/agg/aggregator/tbl.o $(OUT)/agg/aggregator/stk.o tests/unit/tap.h
	@mkdir -p $(dir $@)
	$(CC) $(AGG_CFLAGS) -Itests/unit -o $@ $(filter %.c %.o,$^) $(AGG_LIBS)

# ai: reading answers, diffs and the prompt, without a network (the wire
# formats are tested end to end against stand-ins: tests/e2e/test_ai.py).
$(OUT)/tests/test_ai: tests/unit/test_ai.c $(OUT)/agg/tools/ai.o tests/unit/tap.h
	@mkdir -p $(dir $@)
	$(CC) $(AGG_CFLAGS) -Itests/unit -o $@ $(filter %.c %.o,$^) -ljson-c -lcurl -lcrypto -lpthread

# call stacks: definitions, lost frames, exec'd numbering, merging.
$(OUT)/tests/test_stk: tests/unit/test_stk.c $(OUT)/agg/aggregator/stk.o tests/unit/tap.h
	@mkdir -p $(dir $@)
	$(CC) $(AGG_CFLAGS) -Itests/unit -o $@ $(filter %.c %.o,$^) $(AGG_LIBS)

# The fake NVML library (tests/fake_nvml/): test_nv loads it as NVML.
$(OUT)/tests/libfake-nvml.so: tests/fake_nvml/fake_nvml.c
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(OPT) -shared -fPIC -fvisibility=hidden -o $@ $<
$(OUT)/tests/test_nv: tests/unit/test_nv.c $(OUT)/agg/aggregator/nv.o $(OUT)/tests/libfake-nvml.so tests/unit/tap.h
	@mkdir -p $(dir $@)
	$(CC) $(AGG_CFLAGS) -Itests/unit -DFAKE_NVML_LIB='"$(abspath $(OUT)/tests/libfake-nvml.so)"' -o $@ $(filter %.c %.o,$^) $(AGG_LIBS)

unit: all $(UNIT_TESTS) $(PYF_TESTS)
	@set -e; for t in $(UNIT_TESTS) $(PYF_TESTS); do echo "# $$t"; $$t; done
	@for v in $(PYF_MISSING); do echo "# skip test_pyframe-$$v: no CPython $$v with libpython$$v.so under pyenv root ($(or $(PYENV_ROOT),pyenv not found))"; done

e2e: all
	SCALENE_BUILD=$(abspath $(OUT)) $(PYTHON) -m pytest -q tests/e2e $(PYTEST_ARGS)

# The web page in a real browser (chromium): tests/gui/, run by node.
gui-test: all
	@if [ -z "$$(find tests/gui -type f 2>/dev/null | head -n 1)" ]; then \
	  echo "gui-test: tests/gui/ has no tests yet: nothing to run"; \
	else \
	  echo "SCALENE_BUILD=$(abspath $(OUT)) node --test tests/gui/"; \
	  SCALENE_BUILD=$(abspath $(OUT)) node --test tests/gui/; \
	fi

# Fuzz targets over every parser of untrusted bytes (tests/fuzz/README.md):
# libFuzzer, ASan+UBSan, always in build/fuzz. clang's pointer-overflow check
# is off: liburcu's cds_lfht_for_each_entry computes container_of(NULL) at
# the end of every walk. `make fuzz` fuzzes each target FUZZ_SECONDS;
# `make fuzz-replay` (part of `make test`) runs every corpus file once.
FUZZ_CC ?= clang
FUZZ_FLAGS := -std=c11 -Wall -Wextra -Werror -g -O1 -D_GNU_SOURCE -fno-omit-frame-pointer \
  -fsanitize=fuzzer,address,undefined -fno-sanitize=pointer-overflow -fno-sanitize-recover=undefined
FUZZ_SECONDS ?= 300
FUZZ_TARGETS := drain cfg view
FUZZ_BINS := $(FUZZ_TARGETS:%=build/fuzz/fuzz_%)
FUZZ_SRCS_drain := aggregator/drn.c aggregator/tbl.c aggregator/stk.c aggregator/nv.c runtime/ring.c runtime/sys.c
FUZZ_SRCS_view := tools/view.c tools/exp.c tools/gui.c aggregator/safefile.c

build/fuzz/fuzz_drain: tests/fuzz/fuzz_drain.c $(FUZZ_SRCS_drain) $(wildcard runtime/*.h aggregator/*.h) | $(OUT)/.deps
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -Iruntime -Iaggregator -o $@ $< $(FUZZ_SRCS_drain) $(AGG_LIBS)

build/fuzz/fuzz_cfg: tests/fuzz/fuzz_cfg.c tools/cfg.c tools/cfg.h | $(OUT)/.deps
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -Itools -o $@ $< -lyaml -lm

build/fuzz/fuzz_view: tests/fuzz/fuzz_view.c $(FUZZ_SRCS_view) $(wildcard tools/*.h aggregator/*.h) | $(OUT)/.deps
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -Itools -Iaggregator -Iruntime -o $@ $< $(FUZZ_SRCS_view) -ljson-c -lmicrohttpd -lm

fuzz-replay: $(FUZZ_BINS)
	@set -e; for t in $(FUZZ_TARGETS); do \
	  n=$$(ls tests/fuzz/$${t}_corpus | wc -l); \
	  if build/fuzz/fuzz_$$t -timeout=10 tests/fuzz/$${t}_corpus/* > build/fuzz/$${t}_replay.log 2>&1; then \
	    echo "ok - fuzz_$$t: $$n corpus inputs replayed under ASan+UBSan"; \
	  else tail -n 40 build/fuzz/$${t}_replay.log; echo "not ok - fuzz_$$t: see build/fuzz/$${t}_replay.log"; exit 1; fi; \
	done

fuzz: $(FUZZ_BINS)
	@set -e; for t in $(FUZZ_TARGETS); do mkdir -p build/fuzz/$${t}_new; \
	  echo "fuzz_$$t for $(FUZZ_SECONDS) s"; \
	  build/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -timeout=5 -rss_limit_mb=2048 -print_final_stats=1 \
	    build/fuzz/$${t}_new tests/fuzz/$${t}_corpus; \
	done
	@echo "new inputs: build/fuzz/<t>_new; keep those that add coverage with"
	@echo "  build/fuzz/fuzz_<t> -merge=1 tests/fuzz/<t>_corpus build/fuzz/<t>_new"

# The whole suite: unit tests, end-to-end tests, the web page in a browser,
# then the end-to-end tests against the ASan+UBSan build of runtime and
# aggregator, and the fuzz corpora under ASan+UBSan.
test: unit e2e gui-test check-asan fuzz-replay lint

check: test

asan:
	$(MAKE) VARIANT=asan all
ubsan:
	$(MAKE) VARIANT=ubsan all
tsan:
	$(MAKE) VARIANT=tsan all

ASAN_LIB = $(shell $(CC) -print-file-name=libasan.so)
check-asan:
	$(MAKE) VARIANT=asan all
	SCALENE_BUILD=$(abspath build/asan) SCALENE_ASAN_LIB=$(ASAN_LIB) SCALENE_PRELOAD_FIRST=$(ASAN_LIB) \
	  ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
	  $(PYTHON) -m pytest -q tests/e2e -m "not slow and not timing" $(PYTEST_ARGS)
check-ubsan:
	$(MAKE) VARIANT=ubsan all unit
	SCALENE_BUILD=$(abspath build/ubsan) UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  $(PYTHON) -m pytest -q tests/e2e -m "not slow" $(PYTEST_ARGS)
TSAN_TESTS := $(filter-out %/test_mh,$(patsubst build/%,build/tsan/%,$(UNIT_TESTS)))
check-tsan:
	$(MAKE) VARIANT=tsan $(TSAN_TESTS)
	@set -e; for t in $(TSAN_TESTS); do echo "# $$t"; TSAN_OPTIONS=suppressions=$(abspath tests/tsan.supp) $$t; done

# Writes only under $(DESTDIR)$(PREFIX): bin/scalene and lib/scalene/ (the
# runtime, the web view, and the Python package with @profile's
# sitecustomize that agg.c puts on the program's PYTHONPATH). Nothing goes
# into any interpreter's site-packages: `python -m scalene` comes with the
# wheel (`make wheel`, then pip), or from PYTHONPATH=$(PREFIX)/lib/scalene/python.
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/scalene/python/scalene
	install -m 755 $(BIN) $(DESTDIR)$(PREFIX)/bin/scalene
	install -m 755 $(LIB) $(DESTDIR)$(PREFIX)/lib/scalene/libscalene.so
	install -m 644 tools/python/scalene/*.py $(DESTDIR)$(PREFIX)/lib/scalene/python/scalene/
	install -m 644 tools/python/sitecustomize.py $(DESTDIR)$(PREFIX)/lib/scalene/python/
	@if [ -f $(GUI_DIR)/index.html ]; then \
	  install -d $(DESTDIR)$(PREFIX)/lib/scalene/gui; \
	  install -m 644 $(GUI_ASSETS) $(DESTDIR)$(PREFIX)/lib/scalene/gui/; \
	  echo "installed the web view in $(PREFIX)/lib/scalene/gui"; \
	else echo "make install: the web view is not built; scalene view --cli only"; fi

# Removes what install wrote (lib/scalene/ is ours alone: the bytecode
# Python wrote there goes with it); bin/ and lib/ stay.
uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/scalene
	rm -rf $(DESTDIR)$(PREFIX)/lib/scalene

# One wheel, py3-none-linux_<arch>: the binary, the runtime, the web view and
# the Python package; `pip install --no-index $(DIST)/*.whl` into a venv of a
# supported Python gives it `scalene` and `python -m scalene` (tools/wheel.py).
DIST ?= dist
wheel: all
	$(PYTHON) tools/wheel.py --build $(OUT) --out $(DIST)

# Profiles the bundled example and shows the result.
example: all
	$(BIN) run -o build/example-profile.json examples/phases.py
	$(BIN) view --cli -r build/example-profile.json

bench: all
	$(PYTHON) bench/cpu_overhead.py

lint:
	sh tools/lint.sh

clean:
	rm -rf build gui/dist dist

-include $(RT_OBJS:.o=.d) $(BIN_OBJS:.o=.d)
