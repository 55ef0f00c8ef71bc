# The operator's entry points (DESIGN.md section 10). Each target installs what is missing first.
BUILD_DIR ?= build
JOBS ?= $(shell nproc)
CONFIG ?= config/txmail.toml
# One compiler cache for every checkout of the tree (CI builds a fresh clone elsewhere).
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := true

.PHONY: deps build run test bench fuzz format clean

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

bench: build
	$(BUILD_DIR)/bench/proto_bench
	bash bench/ingest.sh
	bash bench/dkim.sh

fuzz: deps
	cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DTXMAIL_FUZZ=ON \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build build-fuzz -j $(JOBS) --target fuzz_smtp_command
	@echo "run: build-fuzz/fuzz/fuzz_smtp_command -max_total_time=600 fuzz/corpus/smtp_command"

format:
	find src -name '*.h' -o -name '*.cc' | xargs clang-format -i

clean:
	rm -rf $(BUILD_DIR) build-fuzz
