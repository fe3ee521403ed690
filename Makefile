# qpeft — build, deps, tests. `make` builds build/qpeft and build/libqpeft.a.
# Toggles: DEBUG=1 (-O0 -g), NO_OMP=1 (no OpenMP), NATIVE=0 (no -march=native, for valgrind).
# Hardening (issue 7): `make asan` (whole suite under ASan+UBSan), `make fuzz` (libFuzzer harnesses
# in tests/fuzz/, clang, FUZZ_SECONDS each), `make valgrind` (memcheck on train+checkpoint+merge).
CC  ?= gcc
CXX ?= g++
BUILD ?= build
QPEFT_ASSETS ?= $(abspath ../shared/assets)
export QPEFT_ASSETS

PKGS      := openblas lapacke hdf5 sentencepiece
OPT       := -O3
ifeq ($(DEBUG),1)
OPT       := -O0 -g
endif
ifneq ($(NATIVE),0)
OPT       += -march=native
endif
OMPFLAG   := -fopenmp
OMPWARN   :=
ifeq ($(NO_OMP),1)
OMPFLAG   :=
OMPWARN   := -Wno-unknown-pragmas
endif
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
WARN      := -Wall -Wextra -Werror
CFLAGS    += -std=c11 -D_GNU_SOURCE -fno-math-errno $(OPT) $(WARN) $(OMPWARN) $(OMPFLAG) -I. $(PKG_CFLAGS) -MMD -MP $(EXTRA_CFLAGS)
CXXFLAGS  += -std=c++17 $(OPT) $(WARN) $(OMPWARN) -I. $(PKG_CFLAGS) -MMD -MP $(EXTRA_CFLAGS)
LDLIBS    += $(PKG_LIBS) -lstdc++ -lm $(OMPFLAG) $(EXTRA_LDFLAGS)

MODULES   := core quant model data optim init checkpoints trainer
LIB_C     := $(filter-out trainer/main.c,$(foreach m,$(MODULES),$(wildcard $(m)/*.c)))
LIB_CXX   := $(foreach m,$(MODULES),$(wildcard $(m)/*.cpp))
LIB_OBJ   := $(LIB_C:%.c=$(BUILD)/obj/%.o) $(LIB_CXX:%.cpp=$(BUILD)/obj/%.o)
TEST_SRC  := $(wildcard tests/test_*.c)
TEST_BIN  := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
# Fuzz harnesses: libFuzzer binaries in $(BUILD)/fuzz (make fuzz, clang) and, in every build,
# replay binaries (harness + tests/fuzz/replay_main.c) that tests/test_fuzz_regress.sh runs on the
# regression inputs and seeds. fuzz_options catches qp_die through -Wl,--wrap (see the harness).
FUZZ_SRC  := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_NAMES:= $(FUZZ_SRC:tests/fuzz/%.c=%)
REPLAY_BIN:= $(FUZZ_NAMES:%=$(BUILD)/tests/replay/%)
FUZZ_LDFLAGS_fuzz_options := -Wl,--wrap=qp_die
FUZZ_SECONDS ?= 30
FUZZ_BUILD   ?= build-fuzz
FUZZ_SAN     := -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize=vptr -fno-sanitize-recover=undefined
BENCH_SRC := $(wildcard bench/*.c)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

# Runtime packages (make deps) and test-only oracles (make test-deps).
DEPS_PKGS      := libopenblas-openmp-dev liblapacke-dev libhdf5-dev libsentencepiece-dev gnuplot-nox pkg-config
TEST_DEPS_PKGS := python3-torch python3-numpy python3-sentencepiece python3-h5py clang libclang-rt-14-dev valgrind

.PHONY: all deps test-deps test asan fuzz fuzz-bin valgrind demo bench bench-scale clean check-build
all: $(BUILD)/qpeft $(BUILD)/libqpeft.a

$(BUILD)/libqpeft.a: $(LIB_OBJ)
	@mkdir -p $(@D)
	ar rcs $@ $^

$(BUILD)/qpeft: $(BUILD)/obj/trainer/main.o $(BUILD)/libqpeft.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/obj/%.o: %.cpp
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS) -c $< -o $@

$(BUILD)/tests/%: tests/%.c tests/testlib.h $(BUILD)/libqpeft.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libqpeft.a $(LDLIBS)

$(BUILD)/tests/replay/%: tests/fuzz/%.c tests/fuzz/replay_main.c tests/fuzz/fuzz_util.h $(BUILD)/libqpeft.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< tests/fuzz/replay_main.c $(BUILD)/libqpeft.a $(LDLIBS) $(FUZZ_LDFLAGS_$*)

$(BUILD)/fuzz/%: tests/fuzz/%.c tests/fuzz/fuzz_util.h $(BUILD)/libqpeft.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -fsanitize=fuzzer -o $@ $< $(BUILD)/libqpeft.a $(LDLIBS) $(FUZZ_LDFLAGS_$*)

$(BUILD)/bench/%: bench/%.c $(BUILD)/libqpeft.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libqpeft.a $(LDLIBS)

# apt-get only what is missing, so a machine that has everything does no network work.
define apt_install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; fi
endef

deps:
	$(call apt_install,$(DEPS_PKGS))

test-deps: deps
	$(call apt_install,$(TEST_DEPS_PKGS))

check-build: deps
	@$(MAKE) --no-print-directory all tests-bin

.PHONY: tests-bin
tests-bin: $(TEST_BIN) $(REPLAY_BIN)

test: test-deps
	@$(MAKE) --no-print-directory all tests-bin
	@BUILD=$(BUILD) bash tests/run.sh

# LeakSanitizer suppressions (third-party runtimes only) are listed, with reasons, in tests/lsan.supp.
asan:
	@LSAN_OPTIONS=suppressions=$(abspath tests/lsan.supp):print_suppressions=0 \
	  $(MAKE) --no-print-directory test BUILD=build-asan NATIVE=0 \
	  EXTRA_CFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	  EXTRA_LDFLAGS="-fsanitize=address,undefined"

# libFuzzer: the library is built with clang, ASan+UBSan and coverage instrumentation
# (-fsanitize=fuzzer-no-link) in $(FUZZ_BUILD); only the harness links libFuzzer's main. The
# seeds come from the assets (tests/fuzz/make_seeds.sh, which needs build/qpeft for .qm files).
# Each harness runs FUZZ_SECONDS; any crash fails and is copied to tests/fuzz/regressions/<h>/.
fuzz: test-deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory fuzz-bin BUILD=$(FUZZ_BUILD) CC=clang CXX=clang++ NATIVE=0 \
	  EXTRA_CFLAGS="$(FUZZ_SAN) -fsanitize=fuzzer-no-link" EXTRA_LDFLAGS="$(FUZZ_SAN)"
	@FUZZ_BUILD=$(FUZZ_BUILD) FUZZ_SECONDS=$(FUZZ_SECONDS) QPEFT_BIN=$(abspath $(BUILD))/qpeft bash tests/fuzz/run.sh $(FUZZ_NAMES)

fuzz-bin: $(FUZZ_NAMES:%=$(BUILD)/fuzz/%)

# valgrind memcheck (3.19 cannot execute AVX-512: no -march=native, OpenBLAS pinned to Haswell
# kernels) on one short train + step checkpoints + merge pass; fails on any error or leak.
valgrind: test-deps
	@$(MAKE) --no-print-directory all BUILD=build-vg NATIVE=0 DEBUG=$(if $(DEBUG),$(DEBUG),0) EXTRA_CFLAGS="-g"
	@QPEFT_BIN=$(abspath build-vg)/qpeft bash tests/valgrind.sh

demo: deps
	@$(MAKE) --no-print-directory all
	@bash trainer/demo.sh

bench: test-deps
	@$(MAKE) --no-print-directory all $(BENCH_BIN)
	@BUILD=$(BUILD) bash bench/run.sh

# Real shapes (issue 12; not in CI): random tinyllama-1.1b / llama2-7b checkpoints generated in a
# temporary directory, the issue's commands timed, the Scale table printed (docs/results.md).
bench-scale: deps
	@$(MAKE) --no-print-directory all $(BUILD)/bench/gen_model
	@BUILD=$(BUILD) bash bench/scale.sh

clean:
	rm -rf build build-asan build-fuzz build-vg

-include $(LIB_OBJ:.o=.d) $(BUILD)/obj/trainer/main.d
