package ingest

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"

	"github.com/outcomes/outcomes/pipeline/config"
)

// strptimeFormats are the exact patterns of each configured date format. A
// time of day after the date (as Excel and some MIS exports add) is allowed
// and dropped; nothing else is: a value in another format is invalid_date,
// never re-read in a format that happens to fit.
var strptimeFormats = map[string][]string{
	config.DateISO:   {"%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"},
	config.DateDMY:   {"%d/%m/%Y", "%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M"},
	config.DateDMonY: {"%d-%b-%Y", "%d-%b-%Y %H:%M:%S", "%d-%b-%Y %H:%M"},
}

// dateExpr is the SQL that parses text t in a date format. strptime's %Y
// takes "24" as the year 24, so years outside 1900-2999 are invalid: a
// two-digit year is ambiguous, not a date in the first century.
func dateExpr(format, t string) string {
	fs := strptimeFormats[format]
	if fs == nil {
		fs = strptimeFormats[config.DateISO]
	}
	lits := make([]string, len(fs))
	for i, f := range fs {
		lits[i] = "'" + f + "'"
	}
	d := fmt.Sprintf("try_strptime(%s, [%s])::DATE", t, strings.Join(lits, ", "))
	return fmt.Sprintf("CASE WHEN year(%s) BETWEEN 1900 AND 2999 THEN %s END", d, d)
}

// defineDateParsing (re)defines the macro parse_input_date(file_id, t) that
// the validation queries call, so each file's dates are read in its source's
// date_format. macros.sql defines the ISO default.
func defineDateParsing(ctx context.Context, conn *sql.Conn, formats map[int]string) error {
	byFormat := map[string][]int{}
	for id, f := range formats {
		if f != "" && f != config.DateISO {
			byFormat[f] = append(byFormat[f], id)
		}
	}
	body := dateExpr(config.DateISO, "t")
	if len(byFormat) > 0 {
		names := make([]string, 0, len(byFormat))
		for f := range byFormat {
			names = append(names, f)
		}
		sort.Strings(names)
		var b strings.Builder
		b.WriteString("CASE")
		for _, f := range names {
			ids := byFormat[f]
			sort.Ints(ids)
			list := make([]string, len(ids))
			for i, id := range ids {
				list[i] = fmt.Sprint(id)
			}
			fmt.Fprintf(&b, " WHEN file_id IN (%s) THEN %s", strings.Join(list, ", "), dateExpr(f, "t"))
		}
		fmt.Fprintf(&b, " ELSE %s END", body)
		body = b.String()
	}
	_, err := conn.ExecContext(ctx, "CREATE OR REPLACE TEMP MACRO parse_input_date(file_id, t) AS "+body)
	if err != nil {
		return fmt.Errorf("define date parsing: %w", err)
	}
	return nil
}
