# libvae Makefile. Targets:
#   all (default)  build/libvae.a (the core), build/libvae-tools.a (data readers, pictures, trainer), the CLI
#                  build/vae and the example build/examples/decode (linked against the core alone)
#                  (and build/vae-mpi, data-parallel training over Open MPI, where Open MPI is installed)
#   test           install missing packages, fetch data, build and run every test (unit tests also under ASan+UBSan)
#   demo           install, fetch MNIST, train the tutorial's 2-D VAE and AE, write every picture into runs/mnist-2d
#   bench          throughput against the matrix-product ceiling, memory, start-up time (bench/run)
#   debug          the same programs built with ASan + UBSan into build-debug/
#   fuzz           libFuzzer targets with clang, each run for FUZZ_SECONDS
#   setup, data    scripts/setup (Debian packages) and scripts/fetch-data (MNIST, Fashion-MNIST)
#   install        a portable build (ARCH=) in build-dist/, installed under DESTDIR PREFIX (bin, lib, include,
#                  pkg-config, man pages); uninstall removes exactly those files
#   deb            build-dist/libvae_VERSION_ARCH.deb from the same portable build (dpkg-deb under fakeroot)
#   clean          remove build outputs

CC      ?= gcc
BUILD   ?= build
# -std=c11 -O2 and warnings by default; no -ffast-math: it breaks NaN checks and gradient checks.
# -fopenmp: elementwise kernels split over threads; OpenBLAS (pthread build) does the matrix products.
CFLAGS  ?= -std=c11 -O2 -g -Wall -Wextra -Wshadow -Wno-unused-parameter -Wno-missing-field-initializers
PKGS    := libcjson cairo zlib stb
# The core (libvae.a: ops, layers, model, objectives, optimizer, checkpoint) needs only BLAS and cJSON;
# gzip, pictures and images are for the data readers and pictures of libvae-tools.a.
CORE_PKGS := libcjson
# OpenBLAS's OpenMP build (libopenblas-openmp-dev), linked by path with an rpath so that Debian's
# alternatives (which default to the pthread build) cannot swap it: BLAS and our elementwise kernels then
# share one OpenMP thread pool, so N threads are N threads (the pthread build beside OpenMP made 2 cores
# run 3+ spinning threads). docs/performance.md has the measurements.
# Its flags come from the openblas.pc that Debian ships with the OpenMP build, in the build's own folder
# (/usr/lib/<multiarch>/openblas-openmp/pkgconfig): the openblas.pc on pkg-config's default path is an
# alternatives link that points to the pthread build by default. Another system: `make BLAS_PCDIR=...`.
MULTIARCH   := $(shell $(CC) -print-multiarch 2>/dev/null)
BLAS_PCDIR  ?= /usr/lib/$(MULTIARCH)/openblas-openmp/pkgconfig
BLAS_PC     := PKG_CONFIG_PATH=$(BLAS_PCDIR) pkg-config openblas
BLAS_DIR    := $(patsubst %/,%,$(shell $(BLAS_PC) --variable=libdir 2>/dev/null))
BLAS_CFLAGS := $(shell $(BLAS_PC) --cflags 2>/dev/null)
BLAS_LIBS   := $(shell $(BLAS_PC) --libs 2>/dev/null) -Wl,-rpath,$(BLAS_DIR)
# The other matrix-product engines (src/engine.c picks one at run time; docs/performance.md): oneDNN
# (libdnnl-dev ships no .pc file, so plain -ldnnl; its OpenMP runtime is libgomp, the same pool) and BLIS,
# which is not linked but loaded with dlopen when present (its BLAS symbols would collide with OpenBLAS's).
ENGINE_LIBS := -ldnnl
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
# ALL_CFLAGS adds what the build needs to the user's CFLAGS (so `make CFLAGS=...` keeps working).
# -fno-math-errno: sqrtf and friends need not set errno, so loops over them vectorise (results unchanged).
# ARCH: build for this machine's vector units (AVX2, AVX-512 where present); `make ARCH=` builds a
# portable x86-64 binary with the same results up to rounding.
ARCH    ?= -march=native
ALL_CFLAGS = $(CFLAGS) $(ARCH) -fno-math-errno -fopenmp -D_GNU_SOURCE -Iinclude -Isrc $(BLAS_CFLAGS) $(PKG_CFLAGS)
LDLIBS  += $(BLAS_LIBS) $(ENGINE_LIBS) $(PKG_LIBS) -lm -fopenmp
CORE_LDLIBS := $(BLAS_LIBS) $(ENGINE_LIBS) $(shell pkg-config --libs $(CORE_PKGS) 2>/dev/null) -lm -fopenmp

# The sanitizer build: ASan + UBSan, every UB report fatal.
DEBUG_CFLAGS := -std=c11 -O1 -g -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined

LIB_SRC   := $(wildcard src/*.c)
# Every src/ file is core except these (the library boundary, docs/architecture.md): data readers, pictures,
# the trainer over a data set and its state file, the run-folder lock. examples/decode links the core alone.
TOOLS_LIB_NAMES := data image pictures_lib stats train train_parallel train_state runlock
TOOLS_LIB_SRC := $(filter $(TOOLS_LIB_NAMES:%=src/%.c),$(LIB_SRC))
CORE_SRC  := $(filter-out $(TOOLS_LIB_SRC),$(LIB_SRC))
CORE_OBJ  := $(CORE_SRC:src/%.c=$(BUILD)/obj/%.o)
TOOLS_LIB_OBJ := $(TOOLS_LIB_SRC:src/%.c=$(BUILD)/obj/%.o)
LIB_OBJ   := $(CORE_OBJ) $(TOOLS_LIB_OBJ)
LIBS_A    := $(BUILD)/libvae-tools.a $(BUILD)/libvae.a
TOOL_SRC  := $(wildcard tools/*.c)
TOOL_OBJ  := $(TOOL_SRC:tools/%.c=$(BUILD)/obj/tools/%.o)
# `vae serve` (tools/serve.c): the page's files built into the binary as C arrays by scripts/embed-web, and
# libmicrohttpd, linked into the tool only (the library does not serve).
WEB_FILES  := web/index.html web/style.css web/app.js
TOOL_OBJ   += $(BUILD)/obj/web_assets.o
SERVE_LIBS := $(shell pkg-config --libs libmicrohttpd 2>/dev/null)
TEST_SRC  := $(wildcard tests/test_*.c)
TEST_BIN  := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
BENCH_SRC := $(wildcard bench/*.c)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

.PHONY: all test unit demo bench debug fuzz setup data clean install uninstall deb dist
all: $(LIBS_A) $(BUILD)/vae $(BUILD)/examples/decode $(BUILD)/libvae.so

# The library's objects serve both libvae.a and libvae.so: -fPIC for the shared library; -fvisibility=hidden
# so that libvae.so exports only what include/vae.h declares (its declarations are marked default);
# -fno-semantic-interposition so that exported functions still inline into their callers in the library.
LIB_CFLAGS := -fPIC -fvisibility=hidden -fno-semantic-interposition

$(BUILD)/obj/%.o: src/%.c Makefile
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LIB_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/obj/tools/%.o: tools/%.c Makefile
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libvae.a: $(CORE_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/libvae-tools.a: $(TOOLS_LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/vae: $(TOOL_OBJ) $(LIBS_A)
	$(CC) $(ALL_CFLAGS) -o $@ $(TOOL_OBJ) $(LIBS_A) $(LDLIBS) $(SERVE_LIBS)

$(BUILD)/web_assets.c: $(WEB_FILES) scripts/embed-web
	@mkdir -p $(dir $@)
	scripts/embed-web $@ $(WEB_FILES)

$(BUILD)/obj/web_assets.o: $(BUILD)/web_assets.c tools/serve_api.h Makefile
	$(CC) $(ALL_CFLAGS) -Itools -c $< -o $@

# The example uses only include/vae.h and links only the core (no zlib, cairo, stb or data readers).
$(BUILD)/examples/%: examples/%.c include/vae.h $(BUILD)/libvae.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Iinclude -o $@ $< $(BUILD)/libvae.a $(CORE_LDLIBS)

$(BUILD)/tests/%: tests/%.c tests/test.h $(LIBS_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -o $@ $< $(LIBS_A) $(LDLIBS)

# Benchmarks link the tool's OpenMP wait policy (tools/omp_env.c), so they measure what `vae` does.
$(BUILD)/bench/%: bench/%.c $(LIBS_A) $(BUILD)/obj/tools/omp_env.o
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/obj/tools/omp_env.o $(LIBS_A) $(LDLIBS)

# build/vae-mpi: the CLI with data-parallel training over Open MPI (docs/scale.md), built with `all` when Open
# MPI's pkg-config file (ompi-c) or compiler wrapper (mpicc) is there: build/vae's objects with
# tools/mpi/dist_mpi.c in place of tools/dist_single.c. build/bench/mpi-allreduce times one all-reduce.
MPI_CFLAGS := $(shell pkg-config --cflags ompi-c 2>/dev/null || mpicc --showme:compile 2>/dev/null)
MPI_LIBS   := $(shell pkg-config --libs ompi-c 2>/dev/null || mpicc --showme:link 2>/dev/null)
ifneq ($(strip $(MPI_LIBS)),)
all: $(BUILD)/vae-mpi
endif

$(BUILD)/obj/tools/mpi/%.o: tools/mpi/%.c Makefile
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itools $(MPI_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/vae-mpi: $(filter-out $(BUILD)/obj/tools/dist_single.o,$(TOOL_OBJ)) $(BUILD)/obj/tools/mpi/dist_mpi.o $(LIBS_A)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS) $(SERVE_LIBS) $(MPI_LIBS)

$(BUILD)/bench/mpi-allreduce: bench/mpi/allreduce.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(MPI_CFLAGS) -o $@ $< $(MPI_LIBS)

# test_serve_api links vae serve's request handlers (tools/serve_api.c and the parsers of tools/cli.c).
$(BUILD)/tests/test_serve_api: tests/test_serve_api.c tests/test.h $(BUILD)/obj/tools/serve_api.o $(BUILD)/obj/tools/cli.o $(LIBS_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itools -MMD -MP -o $@ $< $(BUILD)/obj/tools/serve_api.o $(BUILD)/obj/tools/cli.o $(LIBS_A) $(LDLIBS)

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
	@# vae serve's HTTP side (sockets, malformed requests, slow clients) on the same build
	@ASAN_OPTIONS=detect_leaks=1 VAE=build-debug/vae ROOT=. bash tests/test_serve.sh
	@FUZZ_SECONDS=3 scripts/fuzz

# The browser test's npm package (playwright-core, pinned by package-lock.json), from the npm registry only:
# it drives Debian's chromium, so no browser is downloaded.
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
test: node_modules/.package-lock.json

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
	rm -rf build build-debug build-fuzz build-dist

# ---------------------------------------------------------------- shared library, install, packages
# The version is the one include/vae.h declares; the soname carries its MAJOR (docs/abi.md).
VERSION := $(shell sed -n 's/.*VAE_VERSION_STRING "\(.*\)".*/\1/p' include/vae.h)
SONAME  := libvae.so.$(firstword $(subst ., ,$(VERSION)))

# libvae.so.VERSION, its soname link, and libvae.so for -lvae. The library links what its objects use;
# --no-undefined: a symbol missing from the link fails here rather than in a user's program. Like libvae.a it
# holds the core only (include/vae.h's API), so it links BLAS, cJSON, OpenMP and libm alone.
$(BUILD)/libvae.so.$(VERSION): $(CORE_OBJ)
	$(CC) $(ALL_CFLAGS) -shared -Wl,-soname,$(SONAME) -Wl,--no-undefined -Wl,--as-needed -o $@ $^ $(CORE_LDLIBS)

$(BUILD)/libvae.so: $(BUILD)/libvae.so.$(VERSION)
	ln -sf libvae.so.$(VERSION) $(BUILD)/$(SONAME)
	ln -sf libvae.so.$(VERSION) $@

# Manual pages: vae.1 from the CLI's own flag tables (`vae --man`: the tables that print --help), libvae.3
# from include/vae.h's declarations and doc comments (scripts/man-libvae).
$(BUILD)/man/vae.1: $(BUILD)/vae
	@mkdir -p $(dir $@)
	$(BUILD)/vae --man >$@.tmp && mv $@.tmp $@

$(BUILD)/man/libvae.3: include/vae.h scripts/man-libvae
	@mkdir -p $(dir $@)
	scripts/man-libvae include/vae.h >$@.tmp && mv $@.tmp $@

# Where `make install` puts things: DESTDIR (a staging root, empty by default) + PREFIX + the folders below.
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR     ?= $(PREFIX)/share/man
# Install and packages use a portable build (INSTALL_ARCH, no -march=native by default) of their own in DIST,
# so an installed or packaged binary runs on any x86-64 machine; `make` and the tests keep -march=native.
DIST         ?= build-dist
INSTALL_ARCH ?=
DIST_FILES = $(DIST)/vae $(DIST)/libvae.a $(DIST)/libvae.so $(DIST)/man/vae.1 $(DIST)/man/libvae.3

dist:
	$(MAKE) BUILD=$(DIST) ARCH="$(INSTALL_ARCH)" $(DIST_FILES)

# libvae.so and libvae.a are the core library (CORE_OBJ); libvae-tools.a (data readers, pictures, trainer)
# is the tool's and is not installed. vae.pc: static linking (pkg-config --static) adds the core's private
# requirements: the pkg-config packages of CORE_PKGS, OpenBLAS's OpenMP build by path with its rpath (as the
# Makefile links it), the other engines' libraries (ENGINE_LIBS), OpenMP and libm.
install: dist
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR) \
	    $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3
	install -m 755 $(DIST)/vae $(DESTDIR)$(BINDIR)/vae
	install -m 755 $(DIST)/libvae.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libvae.so.$(VERSION)
	ln -sf libvae.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libvae.so
	install -m 644 $(DIST)/libvae.a $(DESTDIR)$(LIBDIR)/libvae.a
	install -m 644 include/vae.h $(DESTDIR)$(INCLUDEDIR)/vae.h
	install -m 644 $(DIST)/man/vae.1 $(DESTDIR)$(MANDIR)/man1/vae.1
	install -m 644 $(DIST)/man/libvae.3 $(DESTDIR)$(MANDIR)/man3/libvae.3
	{ echo 'prefix=$(PREFIX)'; \
	  echo 'libdir=$(patsubst $(PREFIX)/%,$${prefix}/%,$(LIBDIR))'; \
	  echo 'includedir=$(patsubst $(PREFIX)/%,$${prefix}/%,$(INCLUDEDIR))'; \
	  echo; \
	  echo 'Name: vae'; \
	  echo 'Description: libvae, a variational autoencoder library'; \
	  echo 'Version: $(VERSION)'; \
	  echo 'Requires.private: $(CORE_PKGS)'; \
	  echo 'Libs: -L$${libdir} -lvae'; \
	  echo 'Libs.private: $(BLAS_LIBS) $(ENGINE_LIBS) -fopenmp -lm'; \
	  echo 'Cflags: -I$${includedir}'; } >$(DESTDIR)$(LIBDIR)/pkgconfig/vae.pc
	@[ -n "$(DESTDIR)" ] || echo "make install: programs linked with -lvae find libvae.so once the loader's cache knows it: run ldconfig"

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/vae $(DESTDIR)$(LIBDIR)/libvae.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME) \
	    $(DESTDIR)$(LIBDIR)/libvae.so $(DESTDIR)$(LIBDIR)/libvae.a $(DESTDIR)$(LIBDIR)/pkgconfig/vae.pc \
	    $(DESTDIR)$(INCLUDEDIR)/vae.h $(DESTDIR)$(MANDIR)/man1/vae.1 $(DESTDIR)$(MANDIR)/man3/libvae.3

# The Debian package: the same installation staged under DIST/deb with Debian's paths, plus the Python
# bindings where Debian's python3 finds them; scripts/make-deb writes its control file (dependencies from
# dpkg-shlibdeps) and runs dpkg-deb.
deb:
	rm -rf $(DIST)/deb
	$(MAKE) install DESTDIR=$(abspath $(DIST))/deb PREFIX=/usr LIBDIR=/usr/lib/$(MULTIARCH)
	install -D -m 644 python/libvae/__init__.py $(DIST)/deb/usr/lib/python3/dist-packages/libvae/__init__.py
	scripts/make-deb $(DIST)/deb $(VERSION) $(DIST)

-include $(shell find $(BUILD) build-debug -name '*.d' 2>/dev/null)
