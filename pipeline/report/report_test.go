package report

import (
	"math"
	"strings"
	"testing"

	"github.com/outcomes/outcomes/pipeline/publish"
	"github.com/outcomes/outcomes/schemas"
)

func rate(v float64) *float64 { return &v }

func matRow(term, prog, group string, r, lo, hi float64) schemas.AttendanceRow {
	n := int64(500)
	return schemas.AttendanceRow{TimePeriod: "202425", TimeIdentifier: term, GeographicLevel: schemas.LevelMAT,
		TrustName: "Trust <&>", ProgrammeID: prog, Programme: map[string]string{"total": "Total", "p": "Programme P"}[prog],
		PupilGroup: group, Pupils: &n, AttendanceRate: rate(r), AttendanceRateLower95: rate(lo), AttendanceRateUpper95: rate(hi)}
}

func TestChange(t *testing.T) {
	terms := []TermRates{
		{Participants: Estimate{80, 79, 81, true}, Others: Estimate{90, 89.5, 90.5, true}},
		{Participants: Estimate{85, 84, 86, true}, Others: Estimate{91, 90.5, 91.5, true}},
	}
	c := change(terms)
	// (85-80) - (91-90) = 4; half-widths 1, 0.5, 1, 0.5 in quadrature = sqrt(2.5).
	if !c.Available || math.Abs(c.Value-4) > 1e-9 || math.Abs((c.Upper-c.Lower)/2-math.Sqrt(2.5)) > 1e-9 {
		t.Errorf("change = %+v, want 4 ± %.3f", c, math.Sqrt(2.5))
	}
	terms[1].Others.Available = false
	if change(terms).Available {
		t.Error("a change from a suppressed figure was computed")
	}
	if change(terms[:1]).Available {
		t.Error("a change from one term was computed")
	}
}

func TestRender(t *testing.T) {
	rows := []schemas.AttendanceRow{
		matRow("Autumn term", "total", schemas.GroupTotal, 92, 91.8, 92.2),
		matRow("Autumn term", "p", schemas.GroupParticipants, 80, 78, 82),
		matRow("Autumn term", "p", schemas.GroupOthers, 93, 92.8, 93.2),
		matRow("Spring term", "total", schemas.GroupTotal, 92.5, 92.3, 92.7),
		matRow("Spring term", "p", schemas.GroupParticipants, 86, 84, 88),
		matRow("Spring term", "p", schemas.GroupOthers, 93.5, 93.3, 93.7),
		{TimePeriod: "202425", TimeIdentifier: "Spring term", GeographicLevel: schemas.LevelSchool, Suppressed: true},
	}
	m := &publish.Manifest{ReleaseID: "R1", Kind: "final", Privacy: publish.Privacy{Epsilon: 2, RoundingBase: 5, SuppressBelow: 10},
		Approval: &publish.Approval{By: "Dr Example"}}
	html, err := Render(m, rows, nil)
	if err != nil {
		t.Fatal(err)
	}
	page := string(html)
	for _, want := range []string{
		"<h1>Attendance and health programmes</h1>", "Programme P", "&#43;5.5", // (86-80)-(93.5-93); html/template writes + as &#43;
		"80.0% (78.0 to 82.0)", "approved by Dr Example", "1 of\nthe 7 rows", `role="img"`, "Trust &lt;&amp;&gt;",
		"Autumn 2024/25",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if strings.Contains(page, "Trust <&>") {
		t.Error("the trust name was not escaped")
	}
	if n := strings.Count(page, "<svg"); n != 2 {
		t.Errorf("%d charts, want one for the programme and one overall", n)
	}
	if strings.Contains(page, "http://") && !strings.Contains(page, "http://www.w3.org") {
		t.Error("the report refers to something on the network")
	}
}

// TestRenderImpact checks the impact section: each row's estimates with
// their intervals, breakdown labels, a suppressed row and a row that could
// not be estimated; and that a release without an impact table has no section.
func TestRenderImpact(t *testing.T) {
	n, c := int64(80), int64(320)
	impact := []schemas.ImpactRow{
		{TimePeriod: "202425", TimeIdentifier: "Academic year", Programme: "Programme P", Breakdown: "Total", BreakdownValue: "Total",
			Participants: &n, ComparisonPupils: &c,
			ParticipantsChange: rate(4.3), ParticipantsChangeLower95: rate(4), ParticipantsChangeUpper95: rate(4.5),
			ComparisonChange: rate(0.1), ComparisonChangeLower95: rate(-0.2), ComparisonChangeUpper95: rate(0.3),
			Difference: rate(4.2), DifferenceLower95: rate(3.8), DifferenceUpper95: rate(4.6)},
		{TimePeriod: "202425", TimeIdentifier: "Academic year", Programme: "Programme P", Breakdown: "FSM", BreakdownValue: "Eligible for free school meals",
			Suppressed: true},
		{TimePeriod: "202425", TimeIdentifier: "Academic year", Programme: "Programme P", Breakdown: "SEN", BreakdownValue: "SEN support",
			Participants: &n, ComparisonPupils: &c, ParticipantsChange: rate(1), ParticipantsChangeLower95: rate(0), ParticipantsChangeUpper95: rate(2)},
	}
	m := &publish.Manifest{ReleaseID: "R1", Kind: "provisional", Privacy: publish.Privacy{Epsilon: 2, RoundingBase: 5, SuppressBelow: 10}}
	html, err := Render(m, nil, impact)
	if err != nil {
		t.Fatal(err)
	}
	page := string(html)
	for _, want := range []string{
		"Did attendance change for pupils who took part?", "Academic year 202425", "80 / 320",
		"&#43;4.3 (&#43;4.0 to &#43;4.5)", "&#43;4.2 (&#43;3.8 to &#43;4.6)", "FSM: Eligible for free school meals",
		"c: too few pupils", "SEN: SEN support", "not estimable",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	none, err := Render(m, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(none), "Did attendance change") {
		t.Error("a release without an impact table shows an impact section")
	}
}
