# imhook developer tasks. Run `make help` for the list.

GO       ?= go
WASM_OPT ?= wasm-opt

# Every directory under examples/ with a main.go is a plugin.
EXAMPLES     := $(patsubst examples/%/main.go,%,$(wildcard examples/*/main.go))
EXAMPLE_WASM := $(EXAMPLES:%=build/examples/%.wasm)
SDK_SOURCES  := $(shell find sdk -name '*.go' ! -name '*_test.go') sdk/go.mod

# wasm-opt accepts Go's wasip1 output only with these features enabled.
# Measured on readsync (go test ./examples -bench WasmOpt): -O2 trims 0.2% of
# the size and changes neither call nor instantiation time, because binaryen
# keeps Go's ~24,000 data segments; imhook merges those when a plugin is
# uploaded, which is what halves instantiation. Skip it with WASM_OPT=.
WASM_OPT_FLAGS ?= -O2 --enable-sign-ext --enable-nontrapping-float-to-int \
	--enable-bulk-memory --enable-mutable-globals

.DEFAULT_GOAL := help

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# AssemblyScript examples: every examples/<name>/assembly/index.ts, built with
# the SDK's build script (sdk/assemblyscript/js/build.js, i.e. imhook-asc) from
# the npm workspace at the root (package.json, package-lock.json). They need
# node and npm; without them `make examples` builds the Go examples only.
NODE            ?= node
NPM             ?= npm
HAVE_NODE       := $(shell command -v $(NODE) >/dev/null 2>&1 && command -v $(NPM) >/dev/null 2>&1 && echo yes)
AS_EXAMPLES     := $(patsubst examples/%/assembly/index.ts,%,$(wildcard examples/*/assembly/index.ts))
AS_EXAMPLE_WASM := $(AS_EXAMPLES:%=build/examples/%.wasm)
AS_SDK_SOURCES  := $(shell find sdk/assemblyscript/assembly sdk/assemblyscript/js -type f) sdk/assemblyscript/package.json

.PHONY: examples
examples: $(EXAMPLE_WASM) $(if $(HAVE_NODE),$(AS_EXAMPLE_WASM)) ## Build examples/*/ to build/examples/<name>.wasm (Go, optimised when wasm-opt is installed; AssemblyScript when node is installed).
	@[ -n "$(HAVE_NODE)" ] || echo "node/npm not installed: the AssemblyScript examples ($(AS_EXAMPLES)) are not built"

.PHONY: examples-as
examples-as: $(AS_EXAMPLE_WASM) ## Build the AssemblyScript examples (examples/*/assembly/index.ts) to build/examples/<name>.wasm (needs node and npm).

# npm ci installs exactly package-lock.json (the assemblyscript compiler) into
# node_modules; the stamp is npm's own record of what it installed.
node_modules/.package-lock.json: package-lock.json package.json sdk/assemblyscript/package.json $(wildcard examples/*/package.json)
	$(NPM) ci
	@touch $@

$(AS_EXAMPLE_WASM): build/examples/%.wasm: node_modules/.package-lock.json $(shell find examples/*/assembly -name "*.ts") $(AS_SDK_SOURCES)
	@mkdir -p $(@D)
	$(NODE) sdk/assemblyscript/js/build.js examples/$*/assembly/index.ts -o $@

# A .wasm is rebuilt when its example's sources or the SDK's change.
.SECONDEXPANSION:
$(EXAMPLE_WASM): build/examples/%.wasm: $$(shell find examples/$$* -name "*.go") $(SDK_SOURCES) go.mod
	@mkdir -p $(@D)
	GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -trimpath -ldflags=-s -o $@ ./examples/$*
	@if [ -n "$(WASM_OPT)" ] && command -v $(WASM_OPT) >/dev/null 2>&1; then \
		echo "$(WASM_OPT) $@"; \
		$(WASM_OPT) $(WASM_OPT_FLAGS) $@ -o $@.opt && mv $@.opt $@; \
	else \
		echo "wasm-opt skipped: $@ is Go's output as is"; \
	fi

# The noisy neighbours of imhook bench --neighbour that are Go SDK plugins
# (cmd/imhook/internal/noisy/<name>), built like the examples but without
# wasm-opt: their instruction counts are calibrated on Go's output.
BENCH_GUESTS     := spin heavy
BENCH_GUEST_WASM := $(BENCH_GUESTS:%=build/guests/%.wasm)

.PHONY: bench-guests
bench-guests: $(BENCH_GUEST_WASM) ## Build the Go test guests of imhook bench --neighbour to build/guests/<name>.wasm.

build/guests/%.wasm: $$(shell find cmd/imhook/internal/noisy/$$* -name "*.go") $(SDK_SOURCES) go.mod
	@mkdir -p $(@D)
	GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -trimpath -ldflags=-s -o $@ ./cmd/imhook/internal/noisy/$*

# Fuzz targets CI runs briefly (package:target). Run longer with
# `make fuzz FUZZTIME=5m`.
FUZZ_TARGETS := \
	./sdk/openim:FuzzDecodeRequest \
	./sdk/abi:FuzzParseHTTPRequest \
	./plugins/egress:FuzzCheckRequest \
	./sdk/openim:FuzzDecodeReply \
	./sdk/openim:FuzzDecodeWire \
	./sdk/plugin/textmsg:FuzzParse \
	./plugins:FuzzGuestMemoryRead \
	./plugins:FuzzUpload \
	./plugins/internal/wasmrewrite:FuzzMeter \
	./plugins/internal/wasmrewrite/wasmbin:FuzzDecode \
	./host/webhook:FuzzRoute \
	./host/admin:FuzzMatch \
	./host/admin:FuzzMergePatch
FUZZTIME ?= 5s

# The SDK is its own module (sdk/go.mod): ./... at the root does not reach it,
# so every target below runs it separately, with go's -C sdk.
SDK_TEST = $(GO) test -C sdk
SDK_VET  = $(GO) vet -C sdk

# Packages whose concurrency the race detector checks on every run (and the
# whole SDK module). Most
# packages that compile Go guests run without it, because wazero compiles a
# 2 MB guest about ten times slower under -race; their concurrency is covered
# here through the WAT and raw-ABI guests. ./host/, the end-to-end tests, is
# worth its cost: it compiles its eight Go modules into the compilation cache
# in the user cache directory, which the run without -race has filled, so it
# takes about 25 s here on 2 cores (2 to 3 minutes with a cold cache). The
# console's (sessions, history sampled while pages read it, browser tests
# against a live server) add about 16 s.
RACE_PKGS ?= ./plugins/... ./host/chain/... ./host/webhook/... ./host/tenants/... ./host/admin/... ./host/ \
	./host/tenantlog/... ./host/capture/... ./host/history/... ./host/console/...

.PHONY: test
test: check-fmt vet test-as ## Run every test as CI does: vet, the AssemblyScript SDK's tests, all Go tests, the race detector, short fuzz runs.
	$(GO) test -count=1 ./...
	$(SDK_TEST) -count=1 ./...
	$(GO) test -count=1 -race -short $(RACE_PKGS)
	$(SDK_TEST) -count=1 -race -short ./...
	$(MAKE) --no-print-directory fuzz

# The AssemblyScript SDK's and examples' tests under node (npm test in each
# workspace). npm ci first, so that the Go tests that build AssemblyScript
# plugins (examples/assemblyscript_test.go) find the compiler. Without node
# they are skipped with a message, except in CI (CI set), which must run them.
.PHONY: test-as
test-as: ## Run the AssemblyScript SDK's and examples' tests (npm ci, npm test; needs node and npm).
	@if [ -z "$(HAVE_NODE)" ]; then \
		if [ -n "$$CI" ]; then echo "test-as: node and npm are required in CI (.ci/run installs them)"; exit 1; fi; \
		echo "test-as: node/npm not installed: the AssemblyScript SDK's tests are skipped (Go tests that need them skip too)"; \
	else \
		$(MAKE) --no-print-directory node_modules/.package-lock.json && $(NPM) test; \
	fi

# Go 1.26's fuzz coordinator can fail a target with a bare "context deadline
# exceeded" when -fuzztime ends while a worker is mid-run (golang/go#75804,
# fixed in Go 1.27): no input is written and nothing reproduces. Such a run
# is repeated once; a real finding writes its input and fails at once.
.PHONY: fuzz
fuzz: ## Run each fuzz target for FUZZTIME (default 5s).
	@set -e; out=$$(mktemp); trap 'rm -f "$$out"' EXIT; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; dir=.; \
		case $$pkg in ./sdk/*) dir=sdk; pkg=./$${pkg#./sdk/};; esac; \
		for try in 1 2; do \
			echo "fuzz $$name ($$dir: $$pkg, $(FUZZTIME))"; rc=0; \
			$(GO) test -C $$dir -run='^$$' -fuzz="^$$name\$$" -fuzztime=$(FUZZTIME) $$pkg >"$$out" 2>&1 || rc=$$?; \
			cat "$$out"; \
			[ $$rc -eq 0 ] && break; \
			if [ $$try -eq 1 ] && grep -q "context deadline exceeded" "$$out" && ! grep -q "Failing input written" "$$out"; then \
				echo "fuzz $$name: Go's -fuzztime shutdown race (golang/go#75804), not a finding: once more"; continue; \
			fi; \
			exit $$rc; \
		done; \
	done

.PHONY: check-fmt
check-fmt: ## Fail if any Go file is not gofmt-clean.
	@out=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

.PHONY: fmt
fmt: ## Format all Go files in place.
	gofmt -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## Run go vet natively (both modules), and on the SDK as built for wasip1.
	$(GO) vet ./...
	$(SDK_VET) ./...
	GOOS=wasip1 GOARCH=wasm $(SDK_VET) ./...

.PHONY: clean
clean: ## Remove build outputs.
	rm -rf build sdk/assemblyscript/build examples/*/build

# ---------------------------------------------------------------------------
# Serving: the binary and the demo (owned by the serving path, issue 4).

DEMO_FLAGS ?=

.PHONY: build
build: ## Build the imhook binary to build/imhook.
	@mkdir -p build
	$(GO) build -trimpath -o build/imhook ./cmd/imhook

.PHONY: demo
demo: build build/examples/moderation.wasm ## Run imhook serve on ./data with a demo tenant running the moderation example.
	./build/imhook serve --demo --demo-plugin build/examples/moderation.wasm $(DEMO_FLAGS)

# ---------------------------------------------------------------------------
# Benchmarks (issues 5 and 12): the micro benchmarks, the side-by-side
# comparison and the neighbours.
# docs/performance.md gives the method and keeps the results. Outputs go to
# build/bench/: <package>.txt (benchstat-friendly: compare two runs with
# `benchstat old.txt new.txt`), compare.txt, tenants.txt and neighbour.txt.

BENCH_COUNT     ?= 5
BENCH_PKGS      ?= ./sdk/openim/ ./plugins/ ./cmd/imhook/internal/baseline/ ./plugins/internal/wasmrewrite/
BENCH_COMPARE   ?= --rounds 5 --duration 5s --warmup 1s
BENCH_TENANTS   ?= --tenants 1000 --active 100
BENCH_NEIGHBOUR ?= --rounds 3 --duration 5s --warmup 1s --rate 500
BENCH_DIR       := build/bench

.PHONY: bench-queue
bench-queue: ## Measure the after-callback queue: ack latency and enqueue rate, bolt, Redis and inline (docs/performance.md).
	IMHOOK_QUEUE_BENCH=1 $(GO) test -count=1 -run TestQueueBenchmark -v -timeout 10m ./cmd/imhook/

.PHONY: bench
bench: build examples examples-as bench-guests ## Run the micro benchmarks and imhook bench (--compare, --tenants, --neighbour); print where each target stands.
	@mkdir -p $(BENCH_DIR)
	@for p in $(BENCH_PKGS); do \
		out=$(BENCH_DIR)/$$(echo $$p | sed 's#^\./##; s#/$$##; s#/#_#g').txt; \
		echo "$(GO) test -run='^$$' -bench=. -benchmem -count=$(BENCH_COUNT) $$p > $$out"; \
		$(GO) test -run='^$$' -bench=. -benchmem -count=$(BENCH_COUNT) $$p > $$out || { cat $$out; exit 1; }; \
	done
	./build/imhook bench --compare $(BENCH_COMPARE) --moderation build/examples/moderation.wasm \
		--trivial build/examples/trivial.wasm --moderation-as build/examples/moderation-as.wasm | tee $(BENCH_DIR)/compare.txt
	./build/imhook bench $(BENCH_TENANTS) --moderation build/examples/moderation.wasm | tee $(BENCH_DIR)/tenants.txt
	./build/imhook bench --neighbour $(BENCH_NEIGHBOUR) --moderation build/examples/moderation.wasm \
		--spin build/guests/spin.wasm --heavy build/guests/heavy.wasm | tee $(BENCH_DIR)/neighbour.txt
	@echo; echo "Where the targets stand (docs/performance.md):"
	@grep -h -A4 '^targets:' $(BENCH_DIR)/compare.txt $(BENCH_DIR)/tenants.txt $(BENCH_DIR)/neighbour.txt | grep -v '^targets:\|^--'
	@grep -hs 'BenchmarkInstantiate/seed-go' $(BENCH_DIR)/plugins.txt | \
		awk '{ s += $$3; n++ } END { if (n) printf "  cold instance of a Go plugin       %.2f ms (target <= 3 ms), mean of %d runs\n", s / n / 1e6, n }'
	@grep -hs 'BenchmarkUploadToActive' $(BENCH_DIR)/cmd_imhook_internal_baseline.txt | \
		awk '{ s += $$3; n++ } END { if (n) printf "  upload to active (in process)      %.0f ms (target <= 2000 ms), mean of %d runs\n", s / n / 1e6, n }'
