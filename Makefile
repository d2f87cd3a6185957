# regsync — run `make help` for the targets.
GO        ?= go
BIN       ?= bin/regsync
CONFIG    ?= examples/quickstart.yaml
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS   := -X main.version=$(VERSION) -X main.commit=$(COMMIT)
FUZZTIME  ?= 30s
CONTAINER ?= docker
IMAGE     ?= regsync:$(VERSION)
STATICCHECK ?= $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2

# Every Go module of the repository: the service, the deployment files'
# checks and the nats CLI end-to-end test (each nested module keeps its
# test-only requirements out of the service's go.mod). `go test ./...` stops
# at a nested go.mod, so each is named here; deploy's make_test.go checks
# that none is missing.
MODULES   := . deploy cmd/regsync/natscli

.DEFAULT_GOAL := help

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build bin/regsync.
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/regsync

.PHONY: image
image: ## Build the container image (IMAGE=regsync:<version>, CONTAINER=docker|podman).
	$(CONTAINER) build -f deploy/Containerfile --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) -t $(IMAGE) .

.PHONY: run
run: ## Run the service on the embedded NATS with the quick-start config (CONFIG=...).
	$(GO) run -ldflags "$(LDFLAGS)" ./cmd/regsync serve --config $(CONFIG)

.PHONY: test
test: ## Run every test of every module with the race detector (embedded NATS, no Docker, no network).
	@set -e; for m in $(MODULES); do \
		echo "== module $$m"; \
		(set -x; cd $$m && $(GO) mod download && $(GO) vet ./... && $(GO) test -race -count=1 -timeout 9m ./...); \
	done

.PHONY: lint
lint: ## gofmt, go vet and staticcheck, in every module.
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "not gofmt-formatted:"; echo "$$out"; exit 1; fi
	@set -e; for m in $(MODULES); do \
		echo "== module $$m"; \
		(set -x; cd $$m && $(GO) vet ./... && $(STATICCHECK) ./...); \
	done

# Each line measures figures of BENCHMARKS.md; about five minutes on two cores.
.PHONY: bench
bench: ## Run the benchmarks behind each figure of BENCHMARKS.md (about 5 minutes).
	$(GO) test -run '^$$' -benchmem -bench 'LargeRegistry/servers=10000$$' -benchtime 10x ./cmd/regsync/
	$(GO) test -run '^$$' -benchmem -bench 'EditToCompleted' -benchtime 200x ./cmd/regsync/
	$(GO) test -run '^$$' -benchmem -bench 'ManySourcesChanged' -benchtime 3x ./cmd/regsync/
	$(GO) test -run '^$$' -bench 'RegistryChanged/servers=12$$' -benchtime 200x ./cmd/regsync/
	$(GO) test -run '^$$' -bench 'RegistryChanged/servers=10000$$' -benchtime 10x ./cmd/regsync/
	$(GO) test -run '^$$' -bench 'ManyRegistriesChanged' -benchtime 3x ./cmd/regsync/
	$(GO) test -run '^$$' -benchmem -bench 'WebhookToResult|WebhookBurst202' ./cmd/regsync/
	$(GO) test -run '^$$' -benchmem -bench 'Build10k$$|Builder10kEdit|Parse10k' -benchtime 5x ./internal/registry/
	$(GO) test -run '^$$' -benchmem -bench 'Validate|SyncPath' ./internal/registry/
	$(GO) test -run '^$$' -benchmem -bench 'OneEntryEdit' -benchtime 30x ./internal/registry/views/
	$(GO) test -run '^$$' -benchmem -bench 'Load10000' -benchtime 5x ./internal/registry/views/
	$(GO) test -run '^$$' -benchmem -bench 'Rebuild10kOneChange|Build10k|FullPage|NotModified|Search|ToolHiveWalk' ./internal/api/
	$(GO) test -run '^$$' -benchmem -bench 'API64Clients' -benchtime 3s ./internal/api/
	$(GO) test -run '^$$' -benchmem -bench . ./internal/registry/merge/
	$(GO) test -run '^$$' -benchmem -bench . ./internal/sources/ ./internal/watch/ ./internal/syncer/coordinator/
	$(GO) test -run '^$$' -benchmem -bench 'Burst1000|Delivery202|SlowBodyFloodHeap' ./internal/webhook/
	$(GO) test -run '^$$' -benchmem -bench 'BurstRetainedHeap' -benchtime 3x ./internal/webhook/

.PHONY: bench-large
bench-large: ## Sync a 100,000-server registry (360 MB) once: time and peak RSS (about 1 minute, 1.1 GB).
	$(GO) test -run '^$$' -bench 'LargeRegistry/servers=100000$$' -benchtime 1x -timeout 30m ./cmd/regsync/

.PHONY: fuzz
fuzz: ## Run every fuzz test for 30s (FUZZTIME=30s).
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./internal/registry/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeJSON$$' -fuzztime $(FUZZTIME) ./internal/registry/
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./internal/config/
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./events/
	$(GO) test -run '^$$' -fuzz '^FuzzVerify$$' -fuzztime $(FUZZTIME) ./internal/webhook/
	$(GO) test -run '^$$' -fuzz '^FuzzParsePush$$' -fuzztime $(FUZZTIME) ./internal/webhook/
	$(GO) test -run '^$$' -fuzz '^FuzzURL$$' -fuzztime $(FUZZTIME) ./internal/redact/
	$(GO) test -run '^$$' -fuzz '^FuzzDocShape$$' -fuzztime $(FUZZTIME) ./internal/watch/
	$(GO) test -run '^$$' -fuzz '^FuzzParseRetryAfter$$' -fuzztime $(FUZZTIME) ./internal/sources/
	$(GO) test -run '^$$' -fuzz '^FuzzCheckOpenAPI$$' -fuzztime $(FUZZTIME) ./internal/sources/
	$(GO) test -run '^$$' -fuzz '^FuzzString$$' -fuzztime $(FUZZTIME) ./internal/printable/
	$(GO) test -run '^$$' -fuzz '^FuzzServerQuery$$' -fuzztime $(FUZZTIME) ./internal/api/
	$(GO) test -run '^$$' -fuzz '^FuzzSearchMatchesScan$$' -fuzztime $(FUZZTIME) ./internal/api/
	$(GO) test -run '^$$' -fuzz '^FuzzQuery$$' -fuzztime $(FUZZTIME) ./internal/api/

CHAOS_FLAGS ?=
LOAD_FLAGS  ?=

.PHONY: chaos
chaos: ## Run the fault suite on loopback: nats-server cluster, regsync replicas, faults (CHAOS_FLAGS=...).
	@dir=$$(mktemp -d -t regsync-chaos-bin.XXXXXX) && trap 'rm -rf "$$dir"' EXIT && \
	echo "building nats-server v2.15.2, regsync and regsync-chaos in $$dir" && \
	GOBIN=$$dir $(GO) install github.com/nats-io/nats-server/v2@v2.15.2 && \
	$(GO) build -ldflags "$(LDFLAGS)" -o $$dir/regsync ./cmd/regsync && \
	$(GO) build -o $$dir/regsync-chaos ./cmd/regsync-chaos && \
	$$dir/regsync-chaos -nats-server $$dir/nats-server -regsync $$dir/regsync $(CHAOS_FLAGS)

.PHONY: bench-api
bench-api: ## Measure the read API's targets with 3 replicas on one nats-server (about 4 minutes; LOAD_FLAGS=...).
	@dir=$$(mktemp -d -t regsync-load-bin.XXXXXX) && trap 'rm -rf "$$dir"' EXIT && \
	echo "building nats-server v2.15.2, regsync and regsync-load in $$dir" && \
	GOBIN=$$dir $(GO) install github.com/nats-io/nats-server/v2@v2.15.2 && \
	$(GO) build -ldflags "$(LDFLAGS)" -o $$dir/regsync ./cmd/regsync && \
	$(GO) build -o $$dir/regsync-load ./cmd/regsync-load && \
	$$dir/regsync-load -nats-server $$dir/nats-server -regsync $$dir/regsync $(LOAD_FLAGS)

.PHONY: clean
clean: ## Remove build output and the quick-start data directory.
	rm -rf bin data
