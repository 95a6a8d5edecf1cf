package ingest

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/outcomes/outcomes/pipeline/config"
)

// insertStaged copies a staged file into its source's raw table, each row
// with its file and line. A wide attendance file (one row per pupil per
// date, a mark column for each session) is turned into one row per session by
// UNPIVOT here, in SQL, so both sessions keep the line they came from and
// every later check is the long layout's. INCLUDE NULLS keeps an empty mark
// as a row, to be quarantined as missing_value rather than dropped.
func insertStaged(ctx context.Context, conn *sql.Conn, f File, fileID int, cols []string, line, relation string) error {
	inner := fmt.Sprintf("SELECT ? AS file, ? AS file_id, %s AS line, %s FROM %s", line, strings.Join(cols, ", "), relation)
	raw := rawTable(f.Source)
	var q string
	if f.Format.Layout == config.LayoutWide {
		q = fmt.Sprintf(`INSERT INTO %s (file, file_id, line, school_urn, upn, session_date, session, mark)
			SELECT file, file_id, line, school_urn, upn, session_date, session, mark
			FROM (%s) UNPIVOT INCLUDE NULLS (mark FOR session IN (am_mark AS 'AM', pm_mark AS 'PM'))`, raw, inner)
	} else {
		q = fmt.Sprintf("INSERT INTO %s (file, file_id, line, %s) %s", raw, strings.Join(cols, ", "), inner)
	}
	if _, err := conn.ExecContext(ctx, q, fileNameOf(f), fileID); err != nil {
		return fmt.Errorf("stage %s: %w", f.Path, plainDuckDBError(err))
	}
	return nil
}
