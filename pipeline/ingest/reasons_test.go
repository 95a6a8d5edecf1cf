package ingest

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/outcomes/outcomes/schemas"
)

// A mark's reason is the first check it fails, in the order
// validate_attendance.sql lists them; the UPN's checks and the session
// mark's are stored apart and the lesser reason chosen per mark. Every pair
// of a UPN's failure and a session mark's failure gets that first reason,
// whether the file is coded in Go, in two parts, or staged as text; and
// read = loaded + duplicate + quarantined, with the loaded marks committed.
// (Written by a review of the change that split the checks.)
func TestReasonIsTheFirstCheckFailed(t *testing.T) {
	order := []string{"missing_value:school_urn", "missing_value:upn", "missing_value:session_date",
		"missing_value:session", "missing_value:mark", "invalid_upn", "unknown_school", "invalid_date:session_date",
		"invalid_session", "unknown_mark", "pupil_not_on_roster", "date_outside_terms"}
	rank := map[string]int{"": len(order)}
	for i, r := range order {
		rank[r] = i
	}
	a := schemas.MakeUPN(373, 1)
	bad := "Z" + a[1:]
	if schemas.ClassifyUPN(bad) != schemas.UPNInvalid {
		bad = "Y" + a[1:]
	}
	upns := []struct{ value, reason string }{{a, ""}, {"", "missing_value:upn"}, {bad, "invalid_upn"}, {schemas.MakeUPN(373, 9), "pupil_not_on_roster"}}
	// school, date, session, mark
	marks := []struct {
		fields [4]string
		reason string
	}{
		{[4]string{"900001", "2024-09-02", "AM", "/"}, ""},
		{[4]string{"", "2024-09-02", "AM", "/"}, "missing_value:school_urn"},
		{[4]string{"900001", "", "AM", "/"}, "missing_value:session_date"},
		{[4]string{"900001", "2024-09-02", "", "/"}, "missing_value:session"},
		{[4]string{"900001", "2024-09-02", "AM", ""}, "missing_value:mark"},
		{[4]string{"900009", "2024-09-02", "AM", "/"}, "unknown_school"},
		{[4]string{"900001", "2024-09-31", "AM", "/"}, "invalid_date:session_date"},
		{[4]string{"900001", "2024-09-02", "XX", "/"}, "invalid_session"},
		{[4]string{"900001", "2024-09-02", "AM", "ZZ"}, "unknown_mark"},
		{[4]string{"900001", "2025-09-02", "AM", "/"}, "date_outside_terms"},
	}
	for _, mode := range []string{"go", "parts", "text"} {
		t.Run(mode, func(t *testing.T) {
			if mode == "parts" {
				saved := partSize
				partSize = 64
				defer func() { partSize = saved }()
			}
			conn, tok, dir := setup(t)
			ctx := context.Background()
			roster := write(t, dir, "roster.csv", "school_urn,upn,year_group\n900001,"+a+",3\n")
			lines := []string{"school_urn,upn,session_date,session,mark"}
			want := map[string]string{}
			loaded := 0
			for _, u := range upns {
				for d, m := range marks {
					// A distinct date per valid pair, so valid marks do not repeat.
					f := m.fields
					if m.reason == "" && u.reason == "" {
						f[1] = fmt.Sprintf("2024-09-%02d", 2+d)
					}
					lines = append(lines, strings.Join([]string{f[0], u.value, f[1], f[2], f[3]}, ","))
					reason := u.reason
					if rank[m.reason] < rank[reason] {
						reason = m.reason
					}
					if reason == "" {
						loaded++
						continue
					}
					col := strings.SplitN(reason, ":", 2)
					want[strconv.Itoa(len(lines))] = col[0]
				}
			}
			if mode == "text" {
				lines = append(lines, "900001,"+a+",2024-09-03") // a short row: staged as text
				want[strconv.Itoa(len(lines))] = "malformed_row"
			}
			att := write(t, dir, "attendance.csv", strings.Join(lines, "\n")+"\n")
			res, err := Load(ctx, conn, []File{{Source: schemas.SourceRoster, Path: roster}, {Source: schemas.SourceAttendance, Path: att}}, tok, filepath.Join(dir, "q"))
			if err != nil {
				t.Fatal(err)
			}
			defer DropStaging(conn)
			got := map[string]string{}
			for k, v := range readQuarantine(t, filepath.Join(dir, "q", "attendance.csv")) {
				got[k] = strings.SplitN(v, "@", 2)[0]
			}
			for line, w := range want {
				if got[line] != w {
					t.Errorf("line %s (%s): quarantined as %q, want %q", line, lines[mustAtoi(line)-1], got[line], w)
				}
			}
			if len(got) != len(want) {
				t.Errorf("%d rows quarantined, want %d", len(got), len(want))
			}
			s := res.Stats[1]
			if s.RowsLoaded != int64(loaded) || s.RowsRead != s.RowsLoaded+s.RowsDuplicate+s.RowsQuarantined {
				t.Errorf("stats %+v, want %d loaded", s, loaded)
			}
			if err := Commit(ctx, conn, res, "run"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func mustAtoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
