# freight: common tasks. `make test` is what CI runs (.ci/run).

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
PKGS    := ./...

.PHONY: build dev test test-short redis vet lint fmt fuzz bench bench-units clean

build: ## static binary in bin/freight
	CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o bin/freight ./cmd/freight

dev: ## the whole pipeline on this machine
	go run ./cmd/freight dev

test: redis ## every test, with the race detector
	go test -race -count=1 -timeout 10m $(PKGS)

test-short: redis ## without the race detector, faster while editing
	go test -count=1 -timeout 10m $(PKGS)

redis: ## redis-server installed and answering on 127.0.0.1:6379 (the tests use it)
	@bash .ci/redis.sh

vet:
	go vet $(PKGS)

STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
lint: vet ## go vet and staticcheck
	go run $(STATICCHECK) $(PKGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

FUZZTIME ?= 30s
fuzz: ## each fuzz target for FUZZTIME
	go test -run '^$$' -fuzz '^FuzzJSONDecode$$' -fuzztime $(FUZZTIME) ./pkg/event/
	go test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 3s ./pkg/config/
	go test -run '^$$' -fuzz '^FuzzParseFaults$$' -fuzztime $(FUZZTIME) ./pkg/capi/capitest/
	go test -run '^$$' -fuzz '^FuzzParseJSONBody$$' -fuzztime $(FUZZTIME) ./pkg/capi/capitest/
	go test -run '^$$' -fuzz '^FuzzNormalize$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 2s ./pkg/capi/
	go test -run '^$$' -fuzz '^FuzzAppendString$$' -fuzztime $(FUZZTIME) ./pkg/capi/
	go test -run '^$$' -fuzz '^FuzzAppendFloat$$' -fuzztime $(FUZZTIME) ./pkg/capi/

EVENTS ?= 300000
bench: redis ## end-to-end: relay vs a bare consumer and Redis SET NX, same machine, same run
	go run ./integration/bench -events $(EVENTS)

bench-units: ## micro-benchmarks of the hot path
	go test -run '^$$' -bench . -benchmem ./pkg/event/ ./pkg/capi/ ./pkg/batch/ ./pkg/offsets/ ./pkg/dedup/

clean:
	rm -rf bin
