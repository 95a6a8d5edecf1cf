package ingest

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/outcomes/outcomes/pipeline/config"
	"github.com/outcomes/outcomes/pipeline/warehouse"
)

// stagedRows is a SELECT of a staged file's rows as its source's raw table
// holds them: file, file_id, line, then the contract's columns. A wide
// attendance file (one row per pupil per date, a mark column for each
// session) is turned into one row per session by UNPIVOT here, in SQL, so
// both sessions keep the line they came from and every later check is the
// long layout's. INCLUDE NULLS keeps an empty mark as a row, to be
// quarantined as missing_value rather than dropped.
func stagedRows(f File, fileID int, cols []string, line, relation string) string {
	inner := fmt.Sprintf("SELECT %s AS file, %d AS file_id, %s AS line, %s FROM %s",
		warehouse.QuoteLiteral(fileNameOf(f)), fileID, line, strings.Join(cols, ", "), relation)
	if f.Format.Layout == config.LayoutWide {
		return fmt.Sprintf(`SELECT file, file_id, line, school_urn, upn, session_date, session, mark
			FROM (%s) UNPIVOT INCLUDE NULLS (mark FOR session IN (am_mark AS 'AM', pm_mark AS 'PM'))`, inner)
	}
	return inner
}

// insertStaged copies a staged file's rows (stagedRows) into its source's
// raw table: for a file whose line numbers cost a join to compute, once.
func insertStaged(ctx context.Context, conn *sql.Conn, f File, fileID int, cols []string, line, relation string) error {
	q := fmt.Sprintf("INSERT INTO %s (%s) %s", rawRows(f.Source), strings.Join(rawColumns(f.Source), ", "), stagedRows(f, fileID, cols, line, relation))
	if _, err := conn.ExecContext(ctx, q); err != nil {
		return fmt.Errorf("stage %s: %w", f.Path, plainDuckDBError(err))
	}
	return nil
}
