package postprocess

import (
	"testing"

	"github.com/outcomes/outcomes/schemas"
	"github.com/outcomes/outcomes/transforms/privacy"
)

// TestIntervalsCoverTheTruth draws many releases with the library's Laplace
// noise and checks that the published 95% intervals — from the library for
// cells, from the combined noise for derived values (sessions missed, the
// Others group, rates from two noisy sums) — cover the pre-noise value in
// 93-97% of releases. With 3,000 releases the binomial sd is 0.4 points, so
// a correct interval fails with probability about 1e-4.
func TestIntervalsCoverTheTruth(t *testing.T) {
	if testing.Short() {
		t.Skip("statistical test")
	}
	const releases = 3000
	term := Term{ID: "t1", Name: "Autumn term", AcademicYear: "202425"}
	layout := Layout{TrustID: "TR1", Terms: []Term{term}, Programmes: []Programme{{ID: "p", Name: "P"}}, RoundingBase: 1, MAT: true}
	total := privacy.Partition{School: privacy.AllSchools, Term: "t1", Programme: privacy.TotalProgramme}
	part := privacy.Partition{School: privacy.AllSchools, Term: "t1", Programme: "p"}
	// Counts get a small epsilon so their noise (b = 10) is wide next to the
	// integer grid: the library's discrete noise and the outward rounding of
	// bounds make intervals of very narrow counts conservative, not wrong.
	eps := map[string]float64{privacy.Pupils: 0.2, privacy.PersistentAbsentees: 0.2,
		privacy.PossibleSessions: 1, privacy.AuthorisedAbsence: 1, privacy.UnauthorisedAbsence: 1}

	// 1,000 pupils, the first 300 participants; each has 150 possible sessions,
	// pupil k misses k%25 authorised and k%9 unauthorised sessions.
	type truth struct{ pupils, possible, missed, persistent float64 }
	var all, participants truth
	contributions := func(k int64) privacy.Contribution {
		auth, unauth := k%25, k%9
		return privacy.Contribution{PupilKey: k, PossibleSessions: 150, AuthorisedAbsence: auth, UnauthorisedAbsence: unauth,
			PersistentAbsentee: (auth+unauth)*10 >= 150}
	}
	for k := int64(0); k < 1000; k++ {
		c := contributions(k)
		add := func(tr *truth) {
			tr.pupils++
			tr.possible += 150
			tr.missed += float64(c.AuthorisedAbsence + c.UnauthorisedAbsence)
			if c.PersistentAbsentee {
				tr.persistent++
			}
		}
		add(&all)
		if k < 300 {
			add(&participants)
		}
	}
	others := truth{all.pupils - participants.pupils, all.possible - participants.possible,
		all.missed - participants.missed, all.persistent - participants.persistent}

	type check struct {
		name  string
		group string
		value func(schemas.AttendanceRow) (lo, hi *float64)
		truth float64
	}
	f := func(p *int64) *float64 { v := float64(*p); return &v }
	checks := []check{
		{"Total sessions missed", schemas.GroupTotal, func(r schemas.AttendanceRow) (*float64, *float64) {
			return f(r.SessionsMissedLower95), f(r.SessionsMissedUpper95)
		}, all.missed},
		{"Total attendance rate", schemas.GroupTotal, func(r schemas.AttendanceRow) (*float64, *float64) {
			return r.AttendanceRateLower95, r.AttendanceRateUpper95
		}, 100 * (1 - all.missed/all.possible)},
		{"Participants attendance rate", schemas.GroupParticipants, func(r schemas.AttendanceRow) (*float64, *float64) {
			return r.AttendanceRateLower95, r.AttendanceRateUpper95
		}, 100 * (1 - participants.missed/participants.possible)},
		{"Others pupils", schemas.GroupOthers, func(r schemas.AttendanceRow) (*float64, *float64) {
			return f(r.PupilsLower95), f(r.PupilsUpper95)
		}, others.pupils},
		{"Others attendance rate", schemas.GroupOthers, func(r schemas.AttendanceRow) (*float64, *float64) {
			return r.AttendanceRateLower95, r.AttendanceRateUpper95
		}, 100 * (1 - others.missed/others.possible)},
		{"Total persistent absence rate", schemas.GroupTotal, func(r schemas.AttendanceRow) (*float64, *float64) {
			return r.PersistentAbsenceRateLow95, r.PersistentAbsenceRateUp95
		}, 100 * all.persistent / all.pupils},
	}
	covered := make([]int, len(checks))
	for i := 0; i < releases; i++ {
		agg, err := privacy.New([]privacy.Partition{total, part}, privacy.Options{
			Epsilon: eps, MaxPartitions: 2, MaxSessions: map[string]int64{"t1": 150}})
		if err != nil {
			t.Fatal(err)
		}
		for k := int64(0); k < 1000; k++ {
			c := contributions(k)
			c.Partition = total
			if err := agg.Add(c); err != nil {
				t.Fatal(err)
			}
			if k < 300 {
				c.Partition = part
				if err := agg.Add(c); err != nil {
					t.Fatal(err)
				}
			}
		}
		cells, err := agg.Results()
		if err != nil {
			t.Fatal(err)
		}
		rows, err := AttendanceTable(cells, layout)
		if err != nil {
			t.Fatal(err)
		}
		byGroup := map[string]schemas.AttendanceRow{}
		for _, r := range rows {
			byGroup[r.PupilGroup] = r
		}
		for j, c := range checks {
			lo, hi := c.value(byGroup[c.group])
			// Rates are published to one decimal place: allow that rounding.
			if *lo-0.05 <= c.truth && c.truth <= *hi+0.05 {
				covered[j]++
			}
		}
	}
	for j, c := range checks {
		rate := float64(covered[j]) / releases
		t.Logf("%-30s coverage %.1f%%", c.name, 100*rate)
		if rate < 0.93 || rate > 0.97 {
			t.Errorf("%s: 95%% interval covered the truth in %.1f%% of releases, want 93-97%%", c.name, 100*rate)
		}
	}
}
