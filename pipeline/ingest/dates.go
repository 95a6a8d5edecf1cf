package ingest

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"

	"github.com/outcomes/outcomes/pipeline/config"
)

// dateShapes are the exact patterns of each configured date format: a date
// alone, and with a time of day after it (as Excel and some MIS exports add;
// the time is dropped). Nothing else is read: a value in another format is
// invalid_date, never re-read in a format that happens to fit. shape is a
// cheap test a value must pass before strptime sees it, because a failed
// try_strptime costs about a microsecond (millions of rows in a file whose
// date_format is wrong) and a list of patterns tries each in turn.
var dateShapes = map[string]struct {
	date, shape string
	minLen      int
	maxLen      int
	withTime    []string
}{
	config.DateISO:   {"%Y-%m-%d", "substr($t, 5, 1) = '-'", 8, 10, []string{"%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"}},
	config.DateDMY:   {"%d/%m/%Y", "contains($t, '/')", 8, 10, []string{"%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M"}},
	config.DateDMonY: {"%d-%b-%Y", "contains($t, '-')", 10, 11, []string{"%d-%b-%Y %H:%M:%S", "%d-%b-%Y %H:%M"}},
}

// dateExpr is the SQL that parses text t in a date format. strptime's %Y
// takes "24" as the year 24, so years outside 1900-2999 are invalid: a
// two-digit year is ambiguous, not a date in the first century.
func dateExpr(format, t string) string {
	d, ok := dateShapes[format]
	if !ok {
		d = dateShapes[config.DateISO]
	}
	shape := strings.ReplaceAll(d.shape, "$t", t)
	times := make([]string, len(d.withTime))
	for i, f := range d.withTime {
		times[i] = "'" + f + "'"
	}
	parsed := fmt.Sprintf("CASE WHEN NOT (%s) THEN NULL WHEN length(%s) BETWEEN %d AND %d THEN try_strptime(%s, '%s') WHEN length(%s) > %d THEN try_strptime(%s, [%s]) END::DATE",
		shape, t, d.minLen, d.maxLen, t, d.date, t, d.maxLen, t, strings.Join(times, ", "))
	return fmt.Sprintf("CASE WHEN year(%s) BETWEEN 1900 AND 2999 THEN %s END", parsed, parsed)
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
