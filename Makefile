# SPDX-License-Identifier: Apache-2.0
# One Makefile. Variants build into $(OUT): build/ (default), build/asan,
# build/ubsan, build/tsan. `make` installs the Debian packages it needs.
PYTHON ?= /usr/bin/python3
CC ?= gcc
VARIANT ?=
OUT ?= build$(if $(VARIANT),/$(VARIANT))
PREFIX ?= /usr/local

PY_INC := $(shell $(PYTHON) -c 'import sysconfig;print(sysconfig.get_paths()["include"])' 2>/dev/null)
# Where `make install` puts the `scalene` package: the /usr/local site of the
# target interpreter, and of the `python3` first on PATH when that is another.
SITE_OF = $(shell $(1) -c 'import site; c=[p for p in site.getsitepackages() if p.startswith("/usr/local/")]; print((c or site.getsitepackages())[0])' 2>/dev/null)
PY_SITES := $(sort $(call SITE_OF,$(PYTHON)) $(call SITE_OF,python3))

SAN_asan := -fsanitize=address,undefined -fno-sanitize-recover=all
SAN_ubsan := -fsanitize=undefined -fno-sanitize-recover=all
SAN_tsan := -fsanitize=thread -fno-builtin-memcpy -fno-builtin-memset
SAN := $(SAN_$(VARIANT))
OPT := $(if $(VARIANT),-O1,-O2)

WARN := -std=c11 -Wall -Wextra -Werror -g -fno-omit-frame-pointer -D_GNU_SOURCE
CFLAGS_COMMON := $(WARN) $(OPT) $(SAN) -MMD -MP
RT_CFLAGS := $(CFLAGS_COMMON) -fPIC -fvisibility=hidden -Iruntime -Ifork -I$(PY_INC)
AGG_CFLAGS := $(CFLAGS_COMMON) -Iruntime -Iaggregator -Itools
AGG_LIBS := -lurcu -lurcu-cds -ljson-c -lpthread -lm

RT_SRCS := runtime/ring.c runtime/sys.c runtime/pyframe.c runtime/nm.c runtime/mh.c runtime/smp.c runtime/rt.c runtime/ext.c fork/fk.c
AGG_SRCS := aggregator/agg.c aggregator/drn.c aggregator/tbl.c aggregator/rpt.c runtime/ring.c runtime/sys.c
TOOL_SRCS := tools/cli.c tools/view.c

RT_OBJS := $(RT_SRCS:%.c=$(OUT)/rt/%.o)
BIN_OBJS := $(AGG_SRCS:%.c=$(OUT)/agg/%.o) $(TOOL_SRCS:%.c=$(OUT)/agg/%.o)

LIB := $(OUT)/lib/scalene/libscalene.so
BIN := $(OUT)/bin/scalene
PYPKG := $(OUT)/lib/scalene/python/scalene/__init__.py

UNIT_TESTS := $(patsubst tests/unit/%.c,$(OUT)/tests/%,$(wildcard tests/unit/test_*.c))

.PHONY: all deps test check unit e2e asan ubsan tsan check-asan check-ubsan check-tsan install lint clean bench example

all: $(OUT)/.deps $(LIB) $(BIN) $(PYPKG)

# Installs missing Debian packages (root: apt-get; otherwise sudo). Cheap when all are present.
$(OUT)/.deps: tools/install-deps.sh
	@mkdir -p $(OUT)
	@sh tools/install-deps.sh
	@touch $@
deps:
	@sh tools/install-deps.sh

$(OUT)/rt/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(RT_CFLAGS) -c $< -o $@

$(OUT)/agg/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(AGG_CFLAGS) -c $< -o $@

$(LIB): $(RT_OBJS)
	@mkdir -p $(dir $@)
	$(CC) -shared $(SAN) -o $@ $^ -ldl -lpthread -lm -Wl,--version-script=runtime/exports.map

$(BIN): $(BIN_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(SAN) -o $@ $^ $(AGG_LIBS)

$(PYPKG): $(wildcard tools/python/scalene/*.py)
	@mkdir -p $(dir $@)
	cp tools/python/scalene/*.py $(dir $@)

# pyframe reads a live interpreter: this test embeds one (libpython3.11).
$(OUT)/tests/test_pyframe: tests/unit/test_pyframe.c runtime/pyframe.c runtime/sys.c runtime/pyframe.h runtime/sys.h runtime/record.h tests/unit/tap.h
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(OPT) $(SAN) -fvisibility=hidden -Iruntime -Itests/unit -I$(PY_INC) -o $@ $(filter %.c,$^) $(shell pkg-config --libs python3-embed) -ldl -lpthread

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
$(OUT)/tests/test_tbl_mem: tests/unit/test_tbl_mem.c $(OUT)/agg/aggregator/tbl.o $(OUT)/agg/aggregator/rpt.o tests/unit/tap.h
	@mkdir -p $(dir $@)
	$(CC) $(AGG_CFLAGS) -Itests/unit -o $@ $(filter %.c %.o,$^) $(AGG_LIBS)

unit: all $(UNIT_TESTS)
	@set -e; for t in $(UNIT_TESTS); do echo "# $$t"; $$t; done

e2e: all
	SCALENE_BUILD=$(abspath $(OUT)) $(PYTHON) -m pytest -q tests/e2e $(PYTEST_ARGS)

# The whole suite: unit tests, end-to-end tests, then the same end-to-end
# tests against the ASan+UBSan build of runtime and aggregator.
test: unit e2e check-asan lint

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

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/scalene
	install -m 755 $(BIN) $(DESTDIR)$(PREFIX)/bin/scalene
	install -m 755 $(LIB) $(DESTDIR)$(PREFIX)/lib/scalene/libscalene.so
	@set -e; for site in $(PY_SITES); do \
	  install -d $(DESTDIR)$$site/scalene; \
	  install -m 644 tools/python/scalene/*.py $(DESTDIR)$$site/scalene/; \
	  printf 'SCALENE_BIN = "%s"\n' "$(PREFIX)/bin/scalene" > $(DESTDIR)$$site/scalene/_where.py; \
	  echo "installed the scalene package in $$site"; \
	done

# Profiles the bundled example and shows the result.
example: all
	$(BIN) run -o build/example-profile.json examples/phases.py
	$(BIN) view --cli -r build/example-profile.json

bench: all
	$(PYTHON) bench/cpu_overhead.py

lint:
	sh tools/lint.sh

clean:
	rm -rf build

-include $(RT_OBJS:.o=.d) $(BIN_OBJS:.o=.d)
