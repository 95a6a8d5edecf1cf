//go:build !duckdb_arrow

package ingest

// outcomes moves column batches between Go and DuckDB through Arrow, which
// duckdb-go compiles only with the build tag duckdb_arrow. Build with
// `make` or `go build -tags duckdb_arrow ./...`.
var _ = build_with_tag_duckdb_arrow_use_make
