# The entry point for people and CI. cgo and the duckdb_arrow build tag are
# required: duckdb-go compiles DuckDB's Arrow interface only with that tag.
GO       ?= go
TAGS     := duckdb_arrow
VERSION  := $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
export CGO_ENABLED := 1

DEMO     := demo
BIN      := bin/outcomes

.PHONY: all build test test-short demo vet fmt bench fuzz clean linkage-eval

all: build

build:
	$(GO) build -tags $(TAGS) -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/outcomes

vet:
	$(GO) vet -tags $(TAGS) ./...

test: build
	$(GO) vet -tags $(TAGS) ./...
	$(GO) test -tags $(TAGS) -count=1 -timeout 15m ./...

test-short:
	$(GO) test -tags $(TAGS) -short ./...

# The main job on synthetic data: a trust of 20 schools, one academic year.
# Each `make demo` starts from nothing (synthetic data, a new key, an empty
# ledger); rerun the pipeline itself with bin/outcomes run --config demo/pipeline.toml.
demo: build
	rm -rf $(DEMO)
	mkdir -p $(DEMO)
	$(BIN) fixtures --out $(DEMO)/data --config $(DEMO)/pipeline.toml --schools 20 --pupils 1000 --seed 2024 --epsilon 8
	$(BIN) keygen --out $(DEMO)/key
	$(BIN) run --config $(DEMO)/pipeline.toml

# Pipeline against bare DuckDB at a preset scale (trust, region or small),
# then the Go benchmarks of the hot transforms and of one ingest. See BENCHMARKS.md.
# PAIRS pairs of runs each (a baseline and a cold full run; a full and a
# nightly run): the ratios are the median pair's. A region pair takes about
# three minutes here: `make bench PRESET=region PAIRS=1`.
PRESET   ?= trust
PAIRS    ?= 3
bench: build
	$(GO) build -tags $(TAGS) -o bin/outcomes-bench ./cmd/outcomes-bench
	bin/outcomes-bench -preset $(PRESET) -pairs $(PAIRS) -dir bench -bin $(BIN)
	$(GO) test -tags $(TAGS) -run '^$$' -bench . -benchmem ./transforms/... ./schemas/... ./fixtures/... ./pipeline/ingest/

# Each fuzz target for FUZZTIME (go test runs one -fuzz target at a time).
# The readers and validators: header normalisation, the CSV line scan against
# its reference, date parsing, and a whole
# stage + validate of an attendance file through real DuckDB.
FUZZTIME ?= 20s
# Minimising each new input may take up to a minute by default, during which
# no execs are counted and a short FUZZTIME ends with "context deadline
# exceeded" on the slow DuckDB target; a bounded number of tries avoids it.
FUZZMINIMIZE ?= 50x
FUZZ_TARGETS := pipeline/ingest:FuzzNormaliseHeader pipeline/ingest:FuzzScanCSV pipeline/ingest:FuzzParseDate \
	pipeline/ingest:FuzzLoadAttendance pipeline/ingest:FuzzCodesMatchDuckDB pipeline/ingest:FuzzTokeniseFile transforms/linkage:FuzzMatchKeys
fuzz:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "== $$name in $$pkg ($(FUZZTIME))"; \
		$(GO) test -tags $(TAGS) -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) -parallel 1 ./$$pkg/ || exit 1; \
	done

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin $(DEMO)

# Linkage precision and recall on freshly generated fixtures of one seed:
# make linkage-eval SEED=7 [SCHOOLS=20]
SEED     ?= 1
SCHOOLS  ?= 6
linkage-eval:
	$(GO) test -tags $(TAGS) -count=1 -run '^TestLinkageQuality$$' -v ./pipeline/ingest -args -linkage-seed=$(SEED) -linkage-schools=$(SCHOOLS) | grep -E 'linkage|linked by|demographics|PASS|FAIL'
