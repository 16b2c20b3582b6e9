# freight: common tasks. `make test` is what CI runs (.ci/run).

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
PKGS    := ./...

.PHONY: build dev test test-short redis vet lint fmt fuzz bench bench-memory bench-isolation bench-units clean \
	image up down integration-docker integration-compose check-deploy

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
	go test -run '^$$' -fuzz '^FuzzAvroDecode$$' -fuzztime $(FUZZTIME) ./pkg/event/
	go test -run '^$$' -fuzz '^FuzzConfluentDecode$$' -fuzztime $(FUZZTIME) ./pkg/event/
	go test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 3s ./pkg/config/
	go test -run '^$$' -fuzz '^FuzzParseFaults$$' -fuzztime $(FUZZTIME) ./pkg/capi/capitest/
	go test -run '^$$' -fuzz '^FuzzParseJSONBody$$' -fuzztime $(FUZZTIME) ./pkg/capi/capitest/
	go test -run '^$$' -fuzz '^FuzzNormalize$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 2s ./pkg/capi/
	go test -run '^$$' -fuzz '^FuzzAppendString$$' -fuzztime $(FUZZTIME) ./pkg/capi/
	go test -run '^$$' -fuzz '^FuzzAppendFloat$$' -fuzztime $(FUZZTIME) ./pkg/capi/
	go test -run '^$$' -fuzz '^FuzzFBCFor$$' -fuzztime $(FUZZTIME) ./pkg/capi/
	go test -run '^$$' -fuzz '^FuzzAbsoluteURL$$' -fuzztime $(FUZZTIME) ./pkg/capi/

EVENTS ?= 300000
bench: redis ## end-to-end: relay vs a bare consumer and Redis SET NX, same machine, same run
	go run ./integration/bench -events $(EVENTS)

bench-memory: redis ## the memory test: 1M records, ten pixels, one whose requests never answer; peak RSS against the bound
	go run ./integration/bench -memory -events 1000000

bench-isolation: redis ## ten pixels, then one refused by Meta: the nine others' throughput with parking
	go run ./integration/bench -isolation -events $(EVENTS)

bench-units: ## micro-benchmarks of the hot path
	go test -run '^$$' -bench . -benchmem ./pkg/event/ ./pkg/capi/ ./pkg/batch/ ./pkg/offsets/ ./pkg/dedup/

clean:
	rm -rf bin

# Deployment (deploy/README.md). image, up, down and the integration targets
# need a Docker engine; check-deploy runs anywhere.

IMAGE ?= freight:dev
image: ## the container image (deploy/Dockerfile), version and commit stamped
	docker build -f deploy/Dockerfile --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) -t $(IMAGE) .

up: ## the docker-compose stack, built and healthy
	FREIGHT_VERSION=$(VERSION) FREIGHT_COMMIT=$(COMMIT) docker compose up -d --wait --build

down: ## stop the docker-compose stack and drop its data
	docker compose down -v

integration-docker: ## the docker-tagged integration tests in containers (testcontainers-go); they skip without a Docker engine
	go test -tags docker -race -count=1 -timeout 20m -v ./integration/docker/

integration-compose: ## the same tests against the running `make up` stack, plus checks of its services
	FREIGHT_IT_KAFKA_BROKERS=127.0.0.1:9092 FREIGHT_IT_REDIS_URL=redis://127.0.0.1:6379/15 FREIGHT_IT_COMPOSE=1 \
		go test -tags docker -race -count=1 -timeout 20m -v ./integration/docker/

check-deploy: ## the deployment material: structure tests, the docker-tagged tests compile, promtool on the alert rules
	go test -count=1 ./deploy/...
	go vet -tags docker ./integration/...
	@bash deploy/prometheus/check.sh
