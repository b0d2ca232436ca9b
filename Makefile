# libvae Makefile. Targets:
#   all (default)  build/libvae.a, the CLI build/vae and the example build/examples/decode
#   test           install missing packages, fetch data, build and run every test (unit tests also under ASan+UBSan)
#   demo           install, fetch MNIST, train the tutorial's 2-D VAE and AE, write every picture into runs/mnist-2d
#   bench          throughput against the matrix-product ceiling, memory, start-up time (bench/run)
#   debug          the same programs built with ASan + UBSan into build-debug/
#   fuzz           libFuzzer targets with clang, each run for FUZZ_SECONDS
#   setup, data    scripts/setup (Debian packages) and scripts/fetch-data (MNIST, Fashion-MNIST)
#   clean          remove build outputs

CC      ?= gcc
BUILD   ?= build
# -std=c11 -O2 and warnings by default; no -ffast-math: it breaks NaN checks and gradient checks.
# -fopenmp: elementwise kernels split over threads; OpenBLAS (pthread build) does the matrix products.
CFLAGS  ?= -std=c11 -O2 -g -Wall -Wextra -Wshadow -Wno-unused-parameter -Wno-missing-field-initializers
PKGS    := libcjson cairo zlib stb
# OpenBLAS's OpenMP build (libopenblas-openmp-dev), linked by path with an rpath so that Debian's
# alternatives (which default to the pthread build) cannot swap it: BLAS and our elementwise kernels then
# share one OpenMP thread pool, so N threads are N threads (the pthread build beside OpenMP made 2 cores
# run 3+ spinning threads). docs/performance.md has the measurements.
BLAS_DIR    := /usr/lib/x86_64-linux-gnu/openblas-openmp
BLAS_CFLAGS := -I/usr/include/x86_64-linux-gnu/openblas-openmp
BLAS_LIBS   := -L$(BLAS_DIR) -Wl,-rpath,$(BLAS_DIR) -lopenblas
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
# ALL_CFLAGS adds what the build needs to the user's CFLAGS (so `make CFLAGS=...` keeps working).
# -fno-math-errno: sqrtf and friends need not set errno, so loops over them vectorise (results unchanged).
# ARCH: build for this machine's vector units (AVX2, AVX-512 where present); `make ARCH=` builds a
# portable x86-64 binary with the same results up to rounding.
ARCH    ?= -march=native
ALL_CFLAGS = $(CFLAGS) $(ARCH) -fno-math-errno -fopenmp -D_GNU_SOURCE -Iinclude -Isrc $(BLAS_CFLAGS) $(PKG_CFLAGS)
LDLIBS  += $(BLAS_LIBS) $(PKG_LIBS) -lm -fopenmp

# The sanitizer build: ASan + UBSan, every UB report fatal.
DEBUG_CFLAGS := -std=c11 -O1 -g -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined

LIB_SRC   := $(wildcard src/*.c)
LIB_OBJ   := $(LIB_SRC:src/%.c=$(BUILD)/obj/%.o)
TOOL_SRC  := $(wildcard tools/*.c)
TOOL_OBJ  := $(TOOL_SRC:tools/%.c=$(BUILD)/obj/tools/%.o)
TEST_SRC  := $(wildcard tests/test_*.c)
TEST_BIN  := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
BENCH_SRC := $(wildcard bench/*.c)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

.PHONY: all test unit demo bench debug fuzz setup data clean
all: $(BUILD)/libvae.a $(BUILD)/vae $(BUILD)/examples/decode

$(BUILD)/obj/%.o: src/%.c Makefile
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/obj/tools/%.o: tools/%.c Makefile
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libvae.a: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/vae: $(TOOL_OBJ) $(BUILD)/libvae.a
	$(CC) $(ALL_CFLAGS) -o $@ $(TOOL_OBJ) $(BUILD)/libvae.a $(LDLIBS)

# The example uses only include/vae.h.
$(BUILD)/examples/%: examples/%.c include/vae.h $(BUILD)/libvae.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Iinclude -o $@ $< $(BUILD)/libvae.a $(LDLIBS)

$(BUILD)/tests/%: tests/%.c tests/test.h $(BUILD)/libvae.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -o $@ $< $(BUILD)/libvae.a $(LDLIBS)

$(BUILD)/bench/%: bench/%.c $(BUILD)/libvae.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/libvae.a $(LDLIBS)

setup:
	@scripts/setup

data: setup
	@scripts/fetch-data

# Unit and end-to-end tests: every tests/test_*.c binary, then the shell tests of the CLI (tests/*.sh),
# then the unit tests again built with ASan + UBSan.
test: data
	$(MAKE) all $(TEST_BIN)
	@scripts/run-tests $(BUILD)
	$(MAKE) BUILD=build-debug CFLAGS="$(DEBUG_CFLAGS)" all $(TEST_BIN:$(BUILD)/%=build-debug/%)
	@ASAN_OPTIONS=detect_leaks=1 scripts/run-tests build-debug --unit-only
	@# the malformed-input suite again, on the CLI built with ASan + UBSan
	@ASAN_OPTIONS=detect_leaks=1 NO_VMEM_LIMIT=1 VAE=build-debug/vae ROOT=. bash tests/test_malformed.sh
	@FUZZ_SECONDS=3 scripts/fuzz

unit: all $(TEST_BIN)
	@scripts/run-tests $(BUILD) --unit-only

debug:
	$(MAKE) BUILD=build-debug CFLAGS="$(DEBUG_CFLAGS)" all

demo: data
	$(MAKE) all
	scripts/demo

bench: data
	$(MAKE) all $(BENCH_BIN)
	bench/run

# Each libFuzzer target of tests/fuzz/ (IDX, safetensors, flags) for FUZZ_SECONDS with ASan + UBSan, built with
# clang into build-fuzz/ (scripts/fuzz says how; `make test` runs 3 seconds each).
FUZZ_SECONDS ?= 60
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz

clean:
	rm -rf build build-debug build-fuzz

-include $(shell find $(BUILD) build-debug -name '*.d' 2>/dev/null)
