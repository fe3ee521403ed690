# qpeft — build, deps, tests. `make` builds build/qpeft and build/libqpeft.a.
# Toggles: DEBUG=1 (-O0 -g), NO_OMP=1 (no OpenMP), NATIVE=0 (no -march=native, for valgrind),
# NO_DNNL=1 (no oneDNN: the bf16 GEMM engine becomes core/la_bf16_none.c, `--compute bf16` falls back).
# NO_MPI=1 (no MPI even when mpicc is present; see docs/distributed.md).
# Hardening (issue 7): `make asan` (whole suite under ASan+UBSan), `make fuzz` (libFuzzer harnesses
# in tests/fuzz/, clang, FUZZ_SECONDS each), `make valgrind` (memcheck on train+checkpoint+merge).
CC  ?= gcc
CXX ?= g++
BUILD ?= build
QPEFT_ASSETS ?= $(abspath ../shared/assets)
export QPEFT_ASSETS

PKGS      := openblas lapacke hdf5 sentencepiece icu-uc
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
# oneDNN (libdnnl-dev, no pkg-config file): the bf16 GEMM engine, in core/la_bf16.c only.
DNNL_LIBS := -ldnnl
BF16_STUB := core/la_bf16_none.c
ifeq ($(NO_DNNL),1)
DNNL_LIBS :=
BF16_STUB := core/la_bf16.c
endif
LDLIBS    += $(PKG_LIBS) $(DNNL_LIBS) -lstdc++ -lm $(OMPFLAG) $(EXTRA_LDFLAGS)
# MPI (issue 15): built in when mpicc is present, unless NO_MPI=1. Only core/dist.c includes
# mpi.h, so only it gets MPI's include flags and QP_HAVE_MPI; without MPI it is a stub.
MPICC     := $(if $(filter 1,$(NO_MPI)),,$(shell command -v mpicc 2>/dev/null))
ifneq ($(MPICC),)
MPI_CFLAGS := -DQP_HAVE_MPI $(shell $(MPICC) --showme:compile 2>/dev/null)
LDLIBS    += $(shell $(MPICC) --showme:link 2>/dev/null)
endif
$(BUILD)/obj/core/dist.o: CFLAGS += $(MPI_CFLAGS)
# Rebuild dist.o when MPI is switched on or off (the stamp changes only when the flags do).
$(BUILD)/obj/core/dist.o: $(BUILD)/mpi.flags
$(BUILD)/mpi.flags: FORCE
	@mkdir -p $(@D); echo '$(MPI_CFLAGS)' | cmp -s - $@ || echo '$(MPI_CFLAGS)' > $@
.PHONY: FORCE

MODULES   := core quant model data optim init checkpoints trainer
LIB_C     := $(filter-out trainer/main.c $(BF16_STUB),$(foreach m,$(MODULES),$(wildcard $(m)/*.c)))
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
DEPS_PKGS      := libopenblas-openmp-dev liblapacke-dev libdnnl-dev libhdf5-dev libsentencepiece-dev libicu-dev gnuplot-nox pkg-config \
                  openmpi-bin libopenmpi-dev
TEST_DEPS_PKGS := python3-torch python3-numpy python3-sentencepiece python3-h5py clang libclang-rt-14-dev valgrind

.DEFAULT_GOAL := all
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

# llama.cpp itself as an oracle (tests/test_gguf_llamacpp.sh, and ggml's quantizer/dequantizer for
# tests/test_ggml_quant.c, test_ggml_model.c, test_gguf_base.c): node-llama-cpp's prebuilt CPU
# binaries, pinned, into tests/llamacpp/node_modules (~83 MB; nothing compiled or downloaded at run
# time). Only when missing, so a machine that has it does no network work. Debian's nodejs ships
# without npm: its npm package is installed only when no npm is on the machine (a NodeSource
# nodejs brings its own and conflicts with Debian's).
NODE_LLAMA := node-llama-cpp@3.21.1 @node-llama-cpp/linux-x64@3.21.1
test-deps: deps
	$(call apt_install,$(TEST_DEPS_PKGS) nodejs)
	@command -v npm >/dev/null || { $(MAKE) --no-print-directory npm-apt; }
	@[ -d tests/llamacpp/node_modules/@node-llama-cpp/linux-x64 ] || \
	  (cd tests/llamacpp && npm i -E --omit=optional $(NODE_LLAMA))
	@[ -d tests/tok/node_modules/@anush008/tokenizers-linux-x64-gnu ] || \
	  (cd tests/tok && npm install --no-audit --no-fund --no-save)

.PHONY: npm-apt
npm-apt:
	$(call apt_install,npm)

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
