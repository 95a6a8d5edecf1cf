// Package analysis opens a published release for SQL. The release's tables
// are copied into an in-memory DuckDB, then all file access is switched off
// and the configuration locked, so a query can read the published tables and
// nothing else: not the warehouse, not another file, and it cannot write.
package analysis

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/outcomes/outcomes/pipeline/publish"
	"github.com/outcomes/outcomes/pipeline/warehouse"
)

// Session is one release opened for queries.
type Session struct {
	db        *sql.DB
	connector *duckdb.Connector
	// Manifest describes the release being queried.
	Manifest *publish.Manifest
	// Tables are the published tables, by name.
	Tables []string
}

// Open verifies the release in dir against its manifest and loads its
// Parquet tables.
func Open(ctx context.Context, dir string) (*Session, error) {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, fmt.Errorf("release %s: %w", dir, err)
	}
	m, err := publish.Verify(real)
	if err != nil {
		return nil, fmt.Errorf("release %s: %w", dir, err)
	}
	connector, err := duckdb.NewConnector("", nil)
	if err != nil {
		return nil, err
	}
	s := &Session{db: sql.OpenDB(connector), connector: connector, Manifest: m}
	s.db.SetMaxOpenConns(1)
	for _, o := range m.Outputs {
		if !strings.HasSuffix(o.Path, ".parquet") {
			continue
		}
		table := strings.TrimSuffix(o.Path, ".parquet")
		q := fmt.Sprintf("CREATE TABLE %q AS SELECT * FROM read_parquet(%s)", table, warehouse.QuoteLiteral(filepath.Join(real, o.Path)))
		if _, err := s.db.ExecContext(ctx, q); err != nil {
			s.Close()
			return nil, fmt.Errorf("load %s: %w", o.Path, err)
		}
		s.Tables = append(s.Tables, table)
	}
	for _, q := range []string{
		"SET enable_external_access = false",
		"SET autoinstall_known_extensions = false",
		"SET autoload_known_extensions = false",
		"SET lock_configuration = true",
	} {
		if _, err := s.db.ExecContext(ctx, q); err != nil {
			s.Close()
			return nil, fmt.Errorf("lock down the query session: %w", err)
		}
	}
	return s, nil
}

// Close releases the session.
func (s *Session) Close() error {
	err := s.db.Close()
	if cerr := s.connector.Close(); err == nil {
		err = cerr
	}
	return err
}

// Result is a query's columns and rows, in order.
type Result struct {
	Columns []string
	Rows    [][]any
}

// Query runs one SQL statement with optional named parameters. A DuckDB error
// comes back with DuckDB's message.
func (s *Session) Query(ctx context.Context, query string, params map[string]any) (*Result, error) {
	var args []any
	for name, v := range params {
		if strings.Contains(query, "$"+name) {
			args = append(args, sql.Named(name, v))
		}
	}
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	res := &Result{Columns: cols}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		res.Rows = append(res.Rows, vals)
	}
	return res, rows.Err()
}
