//go:build duckdb_arrow

package warehouse

import (
	"context"
	"database/sql"
	"errors"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/duckdb/duckdb-go/v2"
)

// WithArrow runs fn with the Arrow interface of a pinned connection, for
// moving column batches between Go and DuckDB; the temp tables of conn are
// visible to it.
func WithArrow(conn *sql.Conn, fn func(ar *duckdb.Arrow, dc *duckdb.Conn) error) error {
	return conn.Raw(func(driverConn any) error {
		dc, ok := driverConn.(*duckdb.Conn)
		if !ok {
			return errors.New("not a DuckDB connection")
		}
		ar, err := duckdb.NewArrowFromConn(dc)
		if err != nil {
			return err
		}
		return fn(ar, dc)
	})
}

// ReadArrow runs stmt, which reads the Arrow stream reader as the view named
// view, on dc. duckdb_arrow_scan registers the view in the database's
// catalog, where it would outlive the stream it reads, so it is dropped as
// soon as stmt has run.
func ReadArrow(ctx context.Context, ar *duckdb.Arrow, dc *duckdb.Conn, reader array.RecordReader, view, stmt string) error {
	release, err := ar.RegisterView(reader, view)
	if err != nil {
		return err
	}
	defer release()
	defer dc.ExecContext(context.WithoutCancel(ctx), "DROP VIEW IF EXISTS "+view, nil)
	_, err = dc.ExecContext(ctx, stmt, nil)
	return err
}
