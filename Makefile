# The test command named in README.md; .ci/run calls it after installing
# what the tests need (versitygw, Debian's prometheus for promtool).
GO ?= go
export PATH := $(PATH):$(shell $(GO) env GOPATH)/bin

.PHONY: test vet build deploy-test index-test bench bench-scale metrics-e2e

test: vet
	$(GO) test -count=1 ./...
	@if [ -f deploy/go.mod ]; then $(MAKE) deploy-test; fi
	@if [ -f internal/indextest/go.mod ]; then $(MAKE) index-test; fi

vet:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

deploy-test:
	cd deploy && $(GO) vet ./... && $(GO) test -count=1 ./...

# The object index read with DuckDB, as the training side reads it: its own
# module (cgo, DuckDB's static library; needs gcc and g++), run against the
# real binary's demo. The first build compiles and links for minutes.
index-test:
	cd internal/indextest && CGO_ENABLED=1 $(GO) vet ./... && CGO_ENABLED=1 $(GO) test -count=1 ./...

# Metrics, rules and dashboard against Debian's prometheus and
# prometheus-pushgateway on loopback; deploy-test runs it too.
metrics-e2e:
	cd deploy && $(GO) test -count=1 -run '^TestMetricsEndToEnd$$' -v .

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o bin/astroingest ./cmd/astroingest

# Races astroingest against rclone on loopback (versitygw + generated source)
# and prints a table of medians; see cmd/astrobench/README.md. About ten
# minutes on two cores. e.g. make bench BENCHFLAGS='--workloads small --runs 5'
bench:
	$(GO) run ./cmd/astrobench $(BENCHFLAGS)

# How cost grows with an entry's size (10k, 100k, 1M objects) and with the
# mirror's (10^7 recorded objects); see cmd/scalebench. Needs rclone and
# GNU time. e.g. make bench-scale BENCHFLAGS='--sizes 10000 --mirror 0'
bench-scale:
	$(GO) run ./cmd/scalebench $(BENCHFLAGS)
