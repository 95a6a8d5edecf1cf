package postprocess

import (
	"math"
	"testing"

	"github.com/outcomes/outcomes/schemas"
	"github.com/outcomes/outcomes/transforms/privacy"
)

func exact(v int64) privacy.Estimate {
	return privacy.Estimate{Value: v, Lower: float64(v), Upper: float64(v)}
}

func cell(school, prog string, pupils, possible, auth, unauth, pa int64) privacy.Cell {
	return privacy.Cell{
		Partition: privacy.Partition{School: school, Term: "t1", Programme: prog},
		Pupils:    exact(pupils), PossibleSessions: exact(possible), AuthorisedAbsence: exact(auth),
		UnauthorisedAbsence: exact(unauth), PersistentAbsentees: exact(pa),
	}
}

var layout = Layout{
	TrustID: "TR1", TrustName: "Trust",
	Schools:      []School{{URN: "900001", Name: "A"}, {URN: "900002", Name: "B"}},
	Terms:        []Term{{ID: "t1", Name: "Autumn term", AcademicYear: "202425"}},
	Programmes:   []Programme{{ID: "mhst", Name: "MHST"}},
	RoundingBase: 5, SuppressBelow: 10, MAT: true, School: true,
}

func TestAttendanceTable(t *testing.T) {
	cells := []privacy.Cell{
		cell("", "total", 160, 16000, 900, 300, 20), // the trust's own DP cell, not a sum of schools
		cell("", "mhst", 25, 2700, 210, 60, 7),
		cell("900001", "total", 100, 10000, 500, 200, 12),
		cell("900001", "mhst", 20, 2000, 150, 50, 5),
		cell("900002", "total", 50, 5000, 300, 100, 8),
		cell("900002", "mhst", 7, 700, 60, 10, 2),
	}
	rows, err := AttendanceTable(cells, layout)
	if err != nil {
		t.Fatal(err)
	}
	type key struct{ level, school, group string }
	got := map[key]schemas.AttendanceRow{}
	for _, r := range rows {
		got[key{r.GeographicLevel, r.SchoolURN, r.PupilGroup}] = r
	}
	if len(rows) != 9 {
		t.Fatalf("got %d rows, want 9 (MAT and 2 schools x Total, Participants, Others)", len(rows))
	}
	tests := []struct {
		k                key
		pupils, possible int64
		missed           int64
		attendance       float64
		suppressed       bool
	}{
		{key{"MAT", "", "Total"}, 160, 16000, 1200, 92.5, false},
		{key{"MAT", "", "Participants"}, 25, 2700, 270, 90.0, false},
		{key{"MAT", "", "Others"}, 135, 13300, 930, 93.0, false},
		{key{"School", "900001", "Others"}, 80, 8000, 500, 93.8, false},
		{key{"School", "900002", "Participants"}, 0, 0, 0, 0, true}, // 7 pupils < 10
	}
	for _, tt := range tests {
		r, ok := got[tt.k]
		if !ok {
			t.Errorf("no row %v", tt.k)
			continue
		}
		if r.Suppressed != tt.suppressed {
			t.Errorf("%v suppressed = %v, want %v", tt.k, r.Suppressed, tt.suppressed)
		}
		if tt.suppressed {
			if r.Pupils != nil || r.AttendanceRate != nil {
				t.Errorf("%v suppressed but shows values", tt.k)
			}
			continue
		}
		if *r.Pupils != tt.pupils || *r.PossibleSessions != tt.possible || *r.SessionsMissed != tt.missed {
			t.Errorf("%v = pupils %d possible %d missed %d, want %d %d %d", tt.k, *r.Pupils, *r.PossibleSessions, *r.SessionsMissed, tt.pupils, tt.possible, tt.missed)
		}
		if *r.AttendanceRate != tt.attendance {
			t.Errorf("%v attendance rate %v, want %v", tt.k, *r.AttendanceRate, tt.attendance)
		}
	}
	if rows[0].GeographicLevel != "MAT" || rows[3].SchoolURN != "900001" {
		t.Errorf("rows not in public-key order")
	}
}

func TestRoundingAndClamping(t *testing.T) {
	l := Layout{RoundingBase: 5}
	tests := []struct {
		in, lo, hi          float64
		want, wantLo, wantH int64
	}{
		{12.5, 10, 15, 15, 10, 15}, // half up, not to even
		{12.4, 11, 14, 10, 10, 15}, // interval widened outwards
		{-7, -20, 6, 0, 0, 10},     // negatives clamped
	}
	for _, tt := range tests {
		v, lo, hi := l.count(value{v: tt.in, lower: tt.lo, upper: tt.hi})
		if *v != tt.want || *lo != tt.wantLo || *hi != tt.wantH {
			t.Errorf("count(%v [%v,%v]) = %d [%d,%d], want %d [%d,%d]", tt.in, tt.lo, tt.hi, *v, *lo, *hi, tt.want, tt.wantLo, tt.wantH)
		}
	}
}

func TestMissingCellIsAnError(t *testing.T) {
	if _, err := AttendanceTable([]privacy.Cell{cell("900001", "total", 1, 1, 0, 0, 0)}, layout); err == nil {
		t.Fatal("a public partition without a DP cell was accepted")
	}
}

func TestTwoLaplaceHalfWidth(t *testing.T) {
	// Equal scales: P(|X+Y| > h) = e^{-h/b}(1 + h/(2b)); check the solution.
	b := 10.0
	h := twoLaplaceHalfWidth(b, b, 0.05)
	if p := math.Exp(-h/b) * (1 + h/(2*b)); math.Abs(p-0.05) > 1e-6 {
		t.Errorf("equal scales: tail at h=%.3f is %.5f, want 0.05", h, p)
	}
	// One scale tiny: close to a single Laplace, h = b ln 20.
	if h := twoLaplaceHalfWidth(b, 1e-6, 0.05); math.Abs(h-b*math.Log(20)) > 0.01 {
		t.Errorf("one negligible scale: h = %.3f, want %.3f", h, b*math.Log(20))
	}
	// Unequal scales lie between the single-Laplace and the equal cases.
	if h := twoLaplaceHalfWidth(b, b/2, 0.05); h <= b*math.Log(20) || h >= twoLaplaceHalfWidth(b, b, 0.05) {
		t.Errorf("unequal scales: h = %.3f out of range", h)
	}
	if twoLaplaceHalfWidth(0, 0, 0.05) != 0 {
		t.Error("no noise should give a zero-width interval")
	}
}
