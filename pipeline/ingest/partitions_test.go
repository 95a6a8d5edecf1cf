package ingest

import (
	"context"
	"strings"
	"testing"
)

// The partition tables have no PRIMARY KEY (its index costs more than the
// tables): DefinePartitions refuses a repeated key itself, since every query
// joins on them and a repeat would count a pupil's marks twice.
func TestDefinePartitionsRefusesRepeatedKeys(t *testing.T) {
	conn, _, _ := setup(t)
	term := Term{ID: "202425-autumn", Start: "2024-08-01", End: "2024-12-31", MaxSessions: 150}
	for _, tc := range []struct {
		name string
		p    Partitions
		want string // in the error; "" for none
	}{
		{"distinct keys", Partitions{Schools: []string{"900001", "900002"}, Terms: []Term{term}, Programmes: []string{"mhst", "asthma"}}, ""},
		{"a school twice", Partitions{Schools: []string{"900001", "900002", "900001"}, Terms: []Term{term}}, `the school "900001" is listed twice`},
		{"a term twice", Partitions{Schools: []string{"900001"}, Terms: []Term{term, term}}, `the term "202425-autumn" is listed twice`},
		{"a programme twice", Partitions{Schools: []string{"900001"}, Terms: []Term{term}, Programmes: []string{"mhst", "mhst"}}, `the programme "mhst" is listed twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := DefinePartitions(context.Background(), conn, tc.p)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one saying %s", err, tc.want)
			}
			if tc.want != "" {
				return
			}
			var schools, programmes int
			if err := conn.QueryRowContext(context.Background(), "SELECT (SELECT count(DISTINCT urn) FROM cfg_schools), (SELECT count(DISTINCT programme_id) FROM cfg_programmes)").Scan(&schools, &programmes); err != nil || schools != 2 || programmes != 2 {
				t.Errorf("%d schools and %d programmes defined (%v), want 2 and 2", schools, programmes, err)
			}
		})
	}
}
