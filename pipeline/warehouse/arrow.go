//go:build duckdb_arrow

package warehouse

import (
	"database/sql"
	"errors"

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
