// Package warehouse opens the DuckDB file that holds the pseudonymised data
// and the run history. (The privacy ledger has a file of its own.)
package warehouse

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/outcomes/outcomes/queries"
)

// Options are the engine's resource settings, applied to every connection.
type Options struct {
	MemoryLimit string // e.g. "4GB"
	Threads     int
	// TempDir is where DuckDB may spill. It must be private: spilled pages of
	// staging tables can hold raw identifiers until they are dropped.
	TempDir string
}

// Warehouse is an open DuckDB database. Use Conn for work that needs temp
// tables: they live on one connection.
type Warehouse struct {
	DB        *sql.DB
	connector *duckdb.Connector
	path      string
}

// Open opens (or creates) the warehouse at path, owner-only, and applies the schema.
func Open(ctx context.Context, path string, opt Options) (*Warehouse, error) {
	settings := []string{
		fmt.Sprintf("SET memory_limit = '%s'", strings.ReplaceAll(opt.MemoryLimit, "'", "")),
		// Staging tables are read back in file order to give each row its line.
		"SET preserve_insertion_order = true",
		// Everything is built in; nothing may be fetched at run time.
		"SET autoinstall_known_extensions = false",
		"SET autoload_known_extensions = false",
	}
	// temp_directory is database-wide and fixed once used, so it goes in the
	// DSN rather than the per-connection init.
	dsn := path
	if opt.TempDir != "" {
		dsn += "?" + url.Values{"temp_directory": {opt.TempDir}}.Encode()
	}
	connector, err := duckdb.NewConnector(dsn, func(execer driver.ExecerContext) error {
		for _, s := range settings {
			if _, err := execer.ExecContext(context.Background(), s, nil); err != nil {
				return fmt.Errorf("%s: %w", s, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("open warehouse %s: %w", path, err)
	}
	db := sql.OpenDB(connector)
	w := &Warehouse{DB: db, connector: connector, path: path}
	// Threads are the database's, set once here rather than by each new
	// connection's init: a connection opened later must not reset a count
	// a run has changed since (pipeline.parallelInputBytes).
	if _, err := db.ExecContext(ctx, fmt.Sprintf("SET threads = %d", max(1, opt.Threads))); err != nil {
		w.Close()
		return nil, fmt.Errorf("set DuckDB's threads for %s: %w", path, err)
	}
	if _, err := db.ExecContext(ctx, queries.Get("warehouse_schema")); err != nil {
		w.Close()
		return nil, fmt.Errorf("apply warehouse schema to %s: %w", path, err)
	}
	migrated, err := checkVersion(ctx, db)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("warehouse %s: %w", path, err)
	}
	if migrated {
		// A migration may drop a table for the schema to create anew.
		if _, err := db.ExecContext(ctx, queries.Get("warehouse_schema")); err != nil {
			w.Close()
			return nil, fmt.Errorf("apply warehouse schema to %s after migrating it: %w", path, err)
		}
	}
	for _, p := range []string{path, path + ".wal"} {
		if err := os.Chmod(p, 0o600); err != nil && !os.IsNotExist(err) {
			w.Close()
			return nil, fmt.Errorf("restrict warehouse file: %w", err)
		}
	}
	return w, nil
}

// SchemaVersion is the warehouse layout this code reads and writes. Version 9
// stores a session's half-day, mark and category as enums (version 8 had
// strings); version 10 adds pupil_terms, the per-pupil summary of sessions
// that ingest.Commit keeps; version 11 stores a session's school URN as a
// number (a string per session made loading a year's marks twice as slow);
// version 12 keeps pupil_terms' half days as 64-bit words instead of
// bitstrings. checkVersion migrates older layouts in place.
const SchemaVersion = 12

// migrations bring a warehouse from the version it is keyed by to the next,
// each in one transaction with the new version's stamp.
var migrations = map[int][]string{
	8: {
		"ALTER TABLE sessions ALTER COLUMN session SET DATA TYPE session_half",
		"ALTER TABLE sessions ALTER COLUMN mark SET DATA TYPE attendance_mark",
		"ALTER TABLE sessions ALTER COLUMN category SET DATA TYPE attendance_category",
	},
	// The schema has created pupil_terms empty, with no calendar recorded,
	// so the next Commit builds it from every session. Older code must not
	// add sessions without it, hence the new version.
	9: {},
	// URNs are six digits (config checks them), so the number keeps them.
	10: {"ALTER TABLE sessions ALTER COLUMN school_urn SET DATA TYPE INTEGER"},
	// The summary is dropped and its calendar forgotten; Open then applies
	// the schema again, which creates it in the new layout, and the next
	// Commit builds it from every session.
	11: {"DROP TABLE pupil_terms", "DELETE FROM pupil_terms_calendar"},
}

// migrate applies migrations from version v up to SchemaVersion.
func migrate(ctx context.Context, db *sql.DB, v int) (int, error) {
	for ; v < SchemaVersion; v++ {
		steps, ok := migrations[v]
		if !ok {
			return v, nil
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return v, err
		}
		for _, q := range append(steps, fmt.Sprintf("INSERT INTO schema_version VALUES (%d)", v+1)) {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				tx.Rollback()
				return v, fmt.Errorf("migrate layout version %d to %d: %s: %w", v, v+1, q, err)
			}
		}
		if err := tx.Commit(); err != nil {
			return v, fmt.Errorf("migrate layout version %d to %d: %w", v, v+1, err)
		}
	}
	return v, nil
}

// checkVersion stamps a new warehouse with SchemaVersion and refuses one made
// by other code: the warehouse holds the privacy ledger, so it is never
// rebuilt silently.
func checkVersion(ctx context.Context, db *sql.DB) (migrated bool, err error) {
	var v int
	err = db.QueryRowContext(ctx, "SELECT max(version) FROM schema_version HAVING count(*) > 0").Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		// Unstamped: new, or made before versions were recorded.
		var used int
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM runs").Scan(&used); err != nil {
			return false, err
		}
		if used > 0 {
			return false, fmt.Errorf("it was made by an earlier development version of this program, which kept the privacy ledger inside it; keep the file (its privacy_ledger table records budget already spent) and carry that spending over before rebuilding: lower privacy.epsilon_cap by it, or start a new trust scope")
		}
		_, err = db.ExecContext(ctx, "INSERT INTO schema_version VALUES (?)", SchemaVersion)
		return false, err
	}
	if err != nil {
		return false, err
	}
	if v < 6 { // before version 6 the privacy ledger was a table in this file
		return false, fmt.Errorf("its layout is version %d, from a development version that kept the privacy ledger inside it; keep the file (its privacy_ledger table records budget already spent) and carry that spending over before rebuilding: lower privacy.epsilon_cap by it, or start a new trust scope", v)
	}
	from := v
	if v, err = migrate(ctx, db, v); err != nil {
		return v > from, err
	}
	if v != SchemaVersion {
		return v > from, fmt.Errorf("its layout is version %d, this program's is %d; move it aside and run again to rebuild it from the extracts (the privacy ledger is in ledger.duckdb and stays), or use the matching program version", v, SchemaVersion)
	}
	return v > from, nil
}

// Conn pins one connection and defines the session's helper macros on it.
func (w *Warehouse) Conn(ctx context.Context) (*sql.Conn, error) {
	c, err := w.DB.Conn(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := c.ExecContext(ctx, queries.Get("macros")); err != nil {
		c.Close()
		return nil, fmt.Errorf("define macros: %w", err)
	}
	return c, nil
}

// Close checkpoints and closes the database.
func (w *Warehouse) Close() error {
	_, _ = w.DB.Exec("CHECKPOINT")
	err := w.DB.Close()
	if cerr := w.connector.Close(); err == nil {
		err = cerr
	}
	return err
}

// Path is the warehouse file's path.
func (w *Warehouse) Path() string { return w.path }

// Rows are rows for one table: Tuple is one row's placeholders, such as
// "(?, ?::DATE)".
type Rows struct {
	Table, Tuple string
	Values       [][]any
}

// InsertRows inserts each table's rows in one statement. The public lists a
// run defines have tens of rows each, and a statement apiece cost more than
// the rest of a nightly run's set-up.
func InsertRows(ctx context.Context, conn *sql.Conn, tables ...Rows) error {
	for _, t := range tables {
		if len(t.Values) == 0 {
			continue
		}
		var args []any
		tuples := make([]string, len(t.Values))
		for i, r := range t.Values {
			tuples[i] = t.Tuple
			args = append(args, r...)
		}
		if _, err := conn.ExecContext(ctx, "INSERT INTO "+t.Table+" VALUES "+strings.Join(tuples, ", "), args...); err != nil {
			return fmt.Errorf("fill %s: %w", t.Table, err)
		}
	}
	return nil
}

// QuoteLiteral quotes s as a SQL string literal, for the few places DuckDB
// takes a file path where a parameter cannot go (COPY ... TO).
func QuoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
