# The operator's entry points (DESIGN.md section 10). Each target installs what is missing first.
BUILD_DIR ?= build
JOBS ?= $(shell nproc)
CONFIG ?= config/txmail.toml
# One compiler cache for every checkout of the tree (CI builds a fresh clone elsewhere).
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := true
# Four builds of the tree (plain, sanitizers, ThreadSanitizer, fuzzing) share it: room for all.
export CCACHE_MAXSIZE ?= 20G

SANITIZE_DIR ?= build-sanitize
FUZZ_DIR ?= build-fuzz
# Every libFuzzer target (fuzz/<name>_fuzz.cc, listed in fuzz/CMakeLists.txt); `make test` runs
# each for FUZZ_SECONDS.
FUZZ_TARGETS := $(patsubst fuzz/%_fuzz.cc,%,$(wildcard fuzz/*_fuzz.cc))
FUZZ_SECONDS ?= 15
# The slow scenarios (minutes of waiting for retries, load and crashes) run in the plain build
# only; everything else runs again under AddressSanitizer and UndefinedBehaviorSanitizer.
# api_report_large measures the node's memory, which ASan's quarantine of freed blocks inflates.
SANITIZE_SKIP ?= cluster_spool_witness|cluster_webhook_lanes|webhooks_retry|webhooks_isolation|webhooks_crash|delivery_many_destinations|delivery_tenant_fairness|crash_consistency|delivery_restart|hostile_slowloris|api_report_large

TSAN_DIR ?= build-tsan
# ThreadSanitizer runs only the unit tests of code that runs on several threads: the spool's
# group commit (store), the event log and the push notification dispatcher (events), the
# delivery engine with its spool and worker threads (queue). Only their executables are built.
TSAN_TARGETS ?= txmail_store_test txmail_events_test txmail_queue_test
TSAN_TESTS ?= ^unit\.(store|events|queue)\.
# Every report fails its test; suppressions only for proven false positives in uninstrumented
# third-party code (each one says why in the file).
TSAN_OPTIONS_ALL ?= halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/scripts/tsan.supp

.PHONY: deps build run test test-sanitize test-tsan test-fuzz tidy tidy-all bench fuzz format clean

deps:
	@bash scripts/install-deps.sh

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR) -j $(JOBS)

run: build
	mkdir -p var
	$(BUILD_DIR)/txmail serve --config $(CONFIG)

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure --timeout 600 -j $(JOBS)
	$(MAKE) tidy
	$(MAKE) test-sanitize
	$(MAKE) test-tsan
	$(MAKE) test-fuzz

$(SANITIZE_DIR)/build.ninja:
	cmake -S . -B $(SANITIZE_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTXMAIL_SANITIZE=ON

# Leak checking is off: detached coroutines still parked when a process exits are not leaks.
test-sanitize: deps $(SANITIZE_DIR)/build.ninja
	cmake --build $(SANITIZE_DIR) -j $(JOBS)
	cd $(SANITIZE_DIR) && ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure --timeout 600 -j $(JOBS) -E '$(SANITIZE_SKIP)'

$(TSAN_DIR)/build.ninja:
	cmake -S . -B $(TSAN_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTXMAIL_TSAN=ON

test-tsan: deps $(TSAN_DIR)/build.ninja
	cmake --build $(TSAN_DIR) -j $(JOBS) --target $(TSAN_TARGETS)
	cd $(TSAN_DIR) && TSAN_OPTIONS='$(TSAN_OPTIONS_ALL)' \
	  ctest --output-on-failure --timeout 600 -j $(JOBS) -R '$(TSAN_TESTS)'

bench: build
	$(BUILD_DIR)/bench/proto_bench
	bash bench/ingest.sh
	bash bench/dkim.sh

fuzz: deps
	cmake -S . -B $(FUZZ_DIR) -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DTXMAIL_FUZZ=ON \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(FUZZ_DIR) -j $(JOBS) --target $(addprefix fuzz_,$(FUZZ_TARGETS))
	@echo "run, e.g.: $(FUZZ_DIR)/fuzz/fuzz_json -max_total_time=600 fuzz/corpus/json"

# clang-tidy with .clang-tidy: `tidy` the files changed since scripts/tidy-base (make test),
# `tidy-all` every file (about 20 minutes on 2 cores).
tidy: build
	bash scripts/check-tidy.sh $(BUILD_DIR) $(JOBS)

tidy-all: build
	bash scripts/check-tidy.sh $(BUILD_DIR) $(JOBS) all

# Short runs (CI): each target for FUZZ_SECONDS from its seed corpus; any crash fails.
test-fuzz: fuzz
	bash scripts/fuzz-short.sh $(FUZZ_DIR) $(FUZZ_SECONDS) $(JOBS) $(FUZZ_TARGETS)

format:
	find src fuzz bench -name '*.h' -o -name '*.cc' | xargs clang-format -i

clean:
	rm -rf $(BUILD_DIR) $(SANITIZE_DIR) $(TSAN_DIR) $(FUZZ_DIR)
