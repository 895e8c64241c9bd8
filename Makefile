# replayproof - build, test and benchmark.
#
#   make            bin/refpipe, bin/refpipe-fiu (fault build), bin/replayproof,
#                   bin/rp-crash.so (crash preload), bin/rp-tests
#   make test       install missing Debian packages, build, run the Check suites
#   make test SANITIZE=address,undefined   the same under ASan + UBSan (build/san)
#   make bench      benchmarks (tables on stdout)
#   make fuzz FUZZ_SECONDS=N   each libFuzzer target in tests/fuzz/ N seconds (build/fuzz)
#   make soak SOAK_N=N         the scenarios N times: identical verdicts, plans, digests
#   make deps       apt-get the Debian packages this project needs (as root)
#
# Variants live in separate object trees so they never mix: build/plain,
# build/fiu (-DFIU_ENABLE: libfiu fail points compiled in), and the same
# under build/san when SANITIZE is set.

CC      ?= gcc
ifeq ($(origin CC),default)
CC      := gcc
endif
PKGS     := check libxxhash sqlite3 inih
DEB_PKGS := build-essential pkg-config libfiu-dev fiu-utils check libxxhash-dev xxhash \
            clang libclang-rt-14-dev \
            libsqlite3-dev sqlite3 libinih-dev gnuplot-nox libxml2-utils chromium strace

ifdef SANITIZE
  TOP    := build/san
  BIN    := build/san/bin
  OPT    ?= -O1
  SANF   := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
  SANDEF := -DRP_SANITIZED
else
  TOP    := build
  BIN    := bin
  OPT    ?= -O2
  SANF   :=
endif

PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) libfiu 2>/dev/null)
CFLAGS_ALL = -std=c11 -D_GNU_SOURCE $(OPT) -g -Wall -Wextra -Werror -Wshadow \
             -Wno-unused-parameter -Ipipeline -Iharness -Ifaults -Ireports -I$(TOP)/gen \
             $(PKG_CFLAGS) $(SANF) $(CFLAGS)
LIBS_XX  = $(shell pkg-config --libs libxxhash)
LIBS_SQL = $(shell pkg-config --libs sqlite3)
LIBS_INI = $(shell pkg-config --libs inih)
LIBS_CK  = $(shell pkg-config --libs check)
LIBS_FIU = $(shell pkg-config --libs libfiu)
FIU_VERSION := $(shell pkg-config --modversion libfiu 2>/dev/null)
LDFLAGS_ALL = $(SANF) $(LDFLAGS)

PL_LIB_SRC := $(filter-out pipeline/refpipe.c,$(wildcard pipeline/*.c))
HN_LIB_SRC := $(filter-out harness/replayproof.c,$(wildcard harness/*.c)) $(wildcard reports/*.c)
FT_SRC     := $(filter-out faults/trace.c,$(wildcard faults/*.c))
TEST_SRC   := $(wildcard tests/*.c)
HDRS       := $(wildcard pipeline/*.h harness/*.h faults/*.h reports/*.h tests/*.h)

PL_PLAIN := $(PL_LIB_SRC:%.c=$(TOP)/plain/%.o)
PL_FIU   := $(PL_LIB_SRC:%.c=$(TOP)/fiu/%.o)
HN_OBJ   := $(HN_LIB_SRC:%.c=$(TOP)/plain/%.o)
TEST_OBJ := $(TEST_SRC:%.c=$(TOP)/plain/%.o)

.PHONY: all deps test check-run bench clean suite demo mutants-gate mutants fuzz fuzz-build soak
all: $(BIN)/refpipe $(BIN)/refpipe-fiu $(BIN)/replayproof $(BIN)/rp-crash.so $(BIN)/rp-trace.so \
     $(BIN)/rp-fiu-probe \
     $(BIN)/rp-tests \
     $(TOP)/testbin/rp-crash.so $(TOP)/testbin/replayproof $(TOP)/testbin/refpipe-fiu \
     $(TOP)/testbin/rp-trace.so

$(TOP)/plain/%.o: %.c $(HDRS) | $(TOP)/gen/suites.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(SANDEF) -DRP_BINDIR='"$(BIN)"' -DRP_FIU_VERSION='"$(FIU_VERSION)"' \
	  -c $< -o $@

$(TOP)/fiu/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -DFIU_ENABLE -c $< -o $@

$(TOP)/plain/tests/check_main.o: $(TOP)/gen/suites.h

$(TOP)/gen/suites.h: $(TEST_SRC)
	@mkdir -p $(dir $@)
	@grep -ho '^Suite \*[a-z0-9_]*_suite(void)' $(TEST_SRC) /dev/null | \
	  sed 's/^Suite \*\([a-z0-9_]*\)_suite(void)/RP_SUITE(\1)/' | sort > $@.tmp && mv $@.tmp $@

$(BIN)/refpipe: $(TOP)/plain/pipeline/refpipe.o $(PL_PLAIN)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS_SQL) $(LIBS_XX)

# The fault build links libfiu dynamically, so that libfiu's preload
# libraries and the harness's crash library drive the same instance.
$(BIN)/refpipe-fiu: $(TOP)/fiu/pipeline/refpipe.o $(PL_FIU)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS_SQL) $(LIBS_XX) $(LIBS_FIU)

$(BIN)/replayproof: $(TOP)/plain/harness/replayproof.o $(HN_OBJ) $(PL_PLAIN)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS_INI) $(LIBS_SQL) $(LIBS_XX) -lm

# Crash preload: arms libfiu points with external callbacks in any
# libfiu-instrumented process.  Built with -DFIU_ENABLE (fiu_enable_* are
# no-ops otherwise) and never with sanitizers (it is preloaded).
$(BIN)/rp-crash.so: $(FT_SRC) $(wildcard faults/*.h)
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -DFIU_ENABLE -fPIC -shared \
	  -o $@ $(FT_SRC) $(LIBS_FIU)

# The tests' variant of the crash library, with its test hooks
# (-DFT_FSRV_TEST_HOOKS: RP_FORKSRV_DIE_AFTER), which the shipped one does not
# honour.  replayproof loads rp-crash.so from its own directory, so testbin/
# also holds hard links (copies across file systems) of the programs.
TESTBIN := $(TOP)/testbin
$(TESTBIN)/rp-crash.so: $(FT_SRC) $(wildcard faults/*.h)
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -DFIU_ENABLE -DFT_FSRV_TEST_HOOKS \
	  -fPIC -shared -o $@ $(FT_SRC) $(LIBS_FIU)
$(TESTBIN)/replayproof $(TESTBIN)/refpipe-fiu $(TESTBIN)/rp-trace.so: $(TESTBIN)/%: $(BIN)/%
	@mkdir -p $(dir $@)
	ln -f $< $@ 2>/dev/null || cp -f $< $@
$(TOP)/plain/tests/tutil.o: CFLAGS_ALL += -DRP_TESTBINDIR='"$(TESTBIN)"'

# Trace preload: records the file-system operations under one directory
# and the libfiu point hits (power-cut explorer).  Needs no libfiu itself;
# never sanitized (it is preloaded).
$(BIN)/rp-trace.so: faults/trace.c faults/ft_trace.h
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -fPIC -shared -o $@ faults/trace.c -ldl -lpthread

# A tiny libfiu-instrumented program that the fault-library tests drive.
$(BIN)/rp-fiu-probe: $(wildcard tests/probe/*.c)
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -DFIU_ENABLE -o $@ $^ $(LIBS_FIU)

$(BIN)/rp-tests: $(TEST_OBJ) $(HN_OBJ) $(PL_PLAIN)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS_CK) $(LIBS_INI) $(LIBS_SQL) $(LIBS_XX) -lm

deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then \
	    echo "make deps: missing Debian packages:$$missing (run make deps as root)" >&2; exit 2; fi; \
	  echo "make deps: installing$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null || exit 2; \
	fi

# make test: set-up first, then a fresh make so pkg-config sees new packages.
test: deps
	@$(MAKE) --no-print-directory check-run

# Under sanitizers the crash tests preload rp-crash.so and libfiu's POSIX
# preload into instrumented binaries: ASan must accept not coming first.
ifdef SANITIZE
check-run: export ASAN_OPTIONS = verify_asan_link_order=0:abort_on_error=0
check-run: export UBSAN_OPTIONS = print_stacktrace=1:halt_on_error=1
endif
# The suites run CHECK_JOBS at a time (default 2), one process each
# (scripts/check.sh; logs in out/check/); CK_RUN_SUITE=NAME runs one alone.
CHECK_JOBS ?= 2
check-run: all
	CK_FORK=yes CK_DEFAULT_TIMEOUT=$${CK_DEFAULT_TIMEOUT:-120} BIN=$(BIN) CHECK_JOBS=$(CHECK_JOBS) \
	  CHECK_OUT=out/check/$(if $(SANITIZE),san,plain) sh scripts/check.sh

# The README's main command: every scenario under crash faults, with the
# verdict (exit 0 all converged, 1 a failure, 2 scenario error, 3 harness).
suite: deps
	@$(MAKE) --no-print-directory all
	$(BIN)/replayproof run $(wildcard scenarios/*.ini)

# The kill matrix: every broken variant of the fault build (refpipe-fiu
# unsafe) against every scenario; exit 0 when each is caught by >= 2; then
# one catch of each shrunk into out/shrink/MUTANT/.  Cells and shrinks run
# one per CPU at a time (--cells); make bench times this with the suite.
mutants: deps
	@$(MAKE) --no-print-directory all
	$(BIN)/replayproof mutants --shrink 40 $(wildcard scenarios/*.ini)

# The CI gate: every variant but the open findings (README, "What the harness is
# proven to catch") must be caught by at least two scenarios; a variant's row
# stops at its second catch (--depth 2).  A variant leaves this
# list when the suite catches it twice; a new variant is gated from the start.
MUTANTS_OPEN :=
mutants-gate: deps
	@$(MAKE) --no-print-directory all
	$(BIN)/replayproof mutants --depth 2 --shrink 40 --only "$$($(BIN)/refpipe-fiu unsafe | \
	  awk '{print $$1}' | $(if $(strip $(MUTANTS_OPEN)),grep -vxF $(foreach m,$(MUTANTS_OPEN),-e $(m)),cat) | \
	  paste -sd, -)" \
	  $(wildcard scenarios/*.ini)

# A first look: generate, stream, export, compare with batch, show bars.
demo: deps
	@$(MAKE) --no-print-directory all
	@sh scripts/demo.sh

# rp-bench: rp_bench.c and run.c built with PL_BENCH (run.c's null-sink switch)
$(TOP)/bench/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -DPL_BENCH -c $< -o $@

$(BIN)/rp-bench: $(TOP)/bench/bench/rp_bench.o $(TOP)/bench/pipeline/run.o \
                 $(filter-out $(TOP)/plain/pipeline/run.o,$(PL_PLAIN))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS_SQL) $(LIBS_XX)

# What one process start costs by fork+exec and through a fork server.
$(BIN)/rp-fsrv-bench: $(TOP)/plain/bench/fsrv_bench.o $(TOP)/plain/harness/fsrv.o \
                      $(TOP)/plain/pipeline/err.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^

bench: deps
	@$(MAKE) --no-print-directory all $(BIN)/rp-bench $(BIN)/rp-fsrv-bench
	@sh bench/run.sh
	@sh bench/harness.sh
	@BIN=$(BIN) sh bench/mutants.sh
	@BIN=$(BIN) sh bench/flaky.sh

# make soak: the flakiness audit.  The scenarios (SOAK_SCENARIOS, default
# scenarios/*.ini) run SOAK_N times (default 20) with -j from 1 to twice the
# CPUs and work dirs alternately on tmpfs and disk; verdicts, trial plans
# and digests must be identical every time (scripts/soak.sh; out/soak).
SOAK_N ?= 20
SOAK_SCENARIOS ?= $(wildcard scenarios/*.ini)
soak: all
	@SOAK_N=$(SOAK_N) SOAK_SCENARIOS="$(SOAK_SCENARIOS)" BIN=$(BIN) sh scripts/soak.sh

# make fuzz FUZZ_SECONDS=N: every libFuzzer target in tests/fuzz/ for N
# seconds under ASan + UBSan, from its seed corpus (tests/fuzz/corpus/NAME,
# read only) and a growing one in out/fuzz/NAME; a crash is saved as
# out/fuzz/NAME-crash-* and fails the target (make stops at the first).
# Objects live in their own tree, build/fuzz, compiled by clang.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 10
FUZZ_TARGETS := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS   = -std=c11 -D_GNU_SOURCE -O1 -g -Wall -Wextra -Werror -Wno-unused-parameter \
                -Ipipeline -Iharness -Ifaults -Ireports -Itests/fuzz $(PKG_CFLAGS) $(FUZZ_SAN)
FUZZ_LIB_OBJ := $(PL_LIB_SRC:%.c=build/fuzz/obj/%.o) $(HN_LIB_SRC:%.c=build/fuzz/obj/%.o)

build/fuzz/obj/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_util.h $(FUZZ_LIB_OBJ)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_LIB_OBJ) \
	  $(LIBS_INI) $(LIBS_SQL) $(LIBS_XX) -lm

fuzz-build: $(FUZZ_TARGETS:%=build/fuzz/fuzz_%)

fuzz: fuzz-build
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p out/fuzz/$$t; \
	  echo "fuzz: $$t for $(FUZZ_SECONDS) s"; \
	  TMPDIR=$(CURDIR)/out/fuzz ASAN_OPTIONS=detect_leaks=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  build/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
	    -artifact_prefix=out/fuzz/$$t- -print_final_stats=1 \
	    out/fuzz/$$t tests/fuzz/corpus/$$t 2> out/fuzz/$$t.log || \
	    { tail -40 out/fuzz/$$t.log; echo "fuzz: $$t FAILED (out/fuzz/$$t.log)"; exit 1; }; \
	  grep -h '^stat::number_of_executed_units\|^Done' out/fuzz/$$t.log | tr '\n' ' '; echo; \
	done

clean:
	rm -rf build bin
