// Package report renders a release as one self-contained HTML page for
// commissioners: headline figures per programme with their intervals, charts
// as inline SVG (drawn with gonum.org/v1/plot), what the noise, rounding and
// suppression mean, and the release's privacy parameters. It reads only
// what the release publishes.
package report

import (
	"bytes"
	"fmt"
	"html/template"
	"image/color"
	"math"
	"sort"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/outcomes/outcomes/pipeline/publish"
	"github.com/outcomes/outcomes/schemas"
)

// Colours with at least 4.5:1 contrast on white, distinguishable in print
// and by colour-blind readers (Okabe-Ito blue and vermillion).
var (
	participantsColour = color.RGBA{R: 0x00, G: 0x5a, B: 0x9c, A: 0xff}
	othersColour       = color.RGBA{R: 0xb3, G: 0x3c, B: 0x00, A: 0xff}
)

// Estimate is a published value with its 95% interval (noise only).
type Estimate struct {
	Value, Lower, Upper float64
	Available           bool
}

func (e Estimate) String() string {
	if !e.Available {
		return "not published (suppressed)"
	}
	return fmt.Sprintf("%.1f%% (%.1f to %.1f)", e.Value, e.Lower, e.Upper)
}

// TermRates is one term's attendance rate for a programme's two groups.
type TermRates struct {
	Term                 string
	Participants, Others Estimate
	ParticipantPupils    string
}

// Programme is one programme's section of the report.
type Programme struct {
	ID, Name string
	Terms    []TermRates
	// Change is the participants' change in attendance rate from the first to
	// the last published term, minus the other pupils' change, in points.
	Change    Estimate
	ChangeAlt string
	Chart     template.HTML
	ChartAlt  string
}

// Page is everything the template shows.
type Page struct {
	Manifest    *publish.Manifest
	TrustName   string
	Programmes  []Programme
	Overall     []TermRates // Total: attendance (Participants field) and persistent absence (Others field)
	OverallSVG  template.HTML
	OverallAlt  string
	Suppressed  int
	Rows        int
	MeasureList []string
	// Impact holds the impact table's rows (empty when it is not published).
	Impact []ImpactLine
}

// ImpactLine is one row of the impact table as the report shows it.
type ImpactLine struct {
	Programme, Period, Breakdown                 string
	Participants, Comparison, Difference, PADiff Estimate
	Pupils                                       string
	Suppressed                                   bool
}

// PointsString shows a change in percentage points with its interval.
func (e Estimate) PointsString() string {
	if !e.Available {
		return "not estimable"
	}
	return fmt.Sprintf("%+.1f (%+.1f to %+.1f)", e.Value, e.Lower, e.Upper)
}

func estimate(v, lo, hi *float64) Estimate {
	if v == nil || lo == nil || hi == nil {
		return Estimate{}
	}
	return Estimate{Value: *v, Lower: *lo, Upper: *hi, Available: true}
}

var termOrder = map[string]int{"Autumn term": 1, "Spring term": 2, "Summer term": 3}

// Render builds the report for a release's attendance rows and, when the
// release has one, its impact table.
func Render(m *publish.Manifest, rows []schemas.AttendanceRow, impact []schemas.ImpactRow) ([]byte, error) {
	page := Page{Manifest: m, Rows: len(rows)}
	for _, r := range impact {
		l := ImpactLine{Programme: r.Programme, Period: r.TimeIdentifier + " " + r.TimePeriod, Breakdown: r.BreakdownValue,
			Participants: estimate(r.ParticipantsChange, r.ParticipantsChangeLower95, r.ParticipantsChangeUpper95),
			Comparison:   estimate(r.ComparisonChange, r.ComparisonChangeLower95, r.ComparisonChangeUpper95),
			Difference:   estimate(r.Difference, r.DifferenceLower95, r.DifferenceUpper95),
			PADiff:       estimate(r.PADifference, r.PADifferenceLower95, r.PADifferenceUpper95),
			Pupils:       "c", Suppressed: r.Suppressed}
		if r.Breakdown != "Total" {
			l.Breakdown = r.Breakdown + ": " + r.BreakdownValue
		}
		if r.Participants != nil && r.ComparisonPupils != nil {
			l.Pupils = fmt.Sprintf("%d / %d", *r.Participants, *r.ComparisonPupils)
		}
		page.Impact = append(page.Impact, l)
	}
	type key struct{ period, term, programme, group string }
	mat := map[key]schemas.AttendanceRow{}
	var programmes []string
	names := map[string]string{}
	terms := map[string]bool{}
	for _, r := range rows {
		if r.Suppressed {
			page.Suppressed++
		}
		if r.GeographicLevel != schemas.LevelMAT {
			continue
		}
		page.TrustName = r.TrustName
		mat[key{r.TimePeriod, r.TimeIdentifier, r.ProgrammeID, r.PupilGroup}] = r
		terms[r.TimePeriod+"\x00"+r.TimeIdentifier] = true
		if r.ProgrammeID != "total" && names[r.ProgrammeID] == "" {
			names[r.ProgrammeID] = r.Programme
			programmes = append(programmes, r.ProgrammeID)
		}
	}
	var termList []string
	for t := range terms {
		termList = append(termList, t)
	}
	sort.Slice(termList, func(i, j int) bool {
		pi, ti, _ := strings.Cut(termList[i], "\x00")
		pj, tj, _ := strings.Cut(termList[j], "\x00")
		if pi != pj {
			return pi < pj
		}
		return termOrder[ti] < termOrder[tj]
	})
	label := func(t string) string {
		p, name, _ := strings.Cut(t, "\x00")
		return fmt.Sprintf("%s %s/%s", strings.TrimSuffix(name, " term"), p[:4], p[4:])
	}
	for _, t := range termList {
		p, name, _ := strings.Cut(t, "\x00")
		total := mat[key{p, name, "total", schemas.GroupTotal}]
		page.Overall = append(page.Overall, TermRates{Term: label(t),
			Participants: estimate(total.AttendanceRate, total.AttendanceRateLower95, total.AttendanceRateUpper95),
			Others:       estimate(total.PersistentAbsenceRate, total.PersistentAbsenceRateLow95, total.PersistentAbsenceRateUp95)})
	}
	for _, id := range programmes {
		pr := Programme{ID: id, Name: names[id]}
		for _, t := range termList {
			p, name, _ := strings.Cut(t, "\x00")
			part := mat[key{p, name, id, schemas.GroupParticipants}]
			oth := mat[key{p, name, id, schemas.GroupOthers}]
			tr := TermRates{Term: label(t),
				Participants:      estimate(part.AttendanceRate, part.AttendanceRateLower95, part.AttendanceRateUpper95),
				Others:            estimate(oth.AttendanceRate, oth.AttendanceRateLower95, oth.AttendanceRateUpper95),
				ParticipantPupils: "c"}
			if part.Pupils != nil {
				tr.ParticipantPupils = fmt.Sprint(*part.Pupils)
			}
			pr.Terms = append(pr.Terms, tr)
		}
		pr.Change = change(pr.Terms)
		if pr.Change.Available {
			pr.ChangeAlt = fmt.Sprintf("%+.1f points", pr.Change.Value)
		}
		svg, alt, err := chart(pr.Name, pr.Terms, "Participants", "Other pupils")
		if err != nil {
			return nil, err
		}
		pr.Chart, pr.ChartAlt = svg, alt
		page.Programmes = append(page.Programmes, pr)
	}
	svg, alt, err := chart("All pupils", page.Overall, "Attendance rate", "")
	if err != nil {
		return nil, err
	}
	page.OverallSVG, page.OverallAlt = svg, alt
	var b bytes.Buffer
	if err := pageTemplate.Execute(&b, page); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// change is (participants' last - first) - (others' last - first), with an
// interval from the four published intervals combined as independent
// (normal approximation, half-widths in quadrature). That is approximate:
// Others is Total minus Participants, so their noises are correlated; the
// report says so. Descriptive only: the groups are not matched.
func change(terms []TermRates) Estimate {
	if len(terms) < 2 {
		return Estimate{}
	}
	a, b := terms[0], terms[len(terms)-1]
	for _, e := range []Estimate{a.Participants, a.Others, b.Participants, b.Others} {
		if !e.Available {
			return Estimate{}
		}
	}
	v := (b.Participants.Value - a.Participants.Value) - (b.Others.Value - a.Others.Value)
	var s float64
	for _, e := range []Estimate{a.Participants, a.Others, b.Participants, b.Others} {
		h := (e.Upper - e.Lower) / 2
		s += h * h
	}
	h := math.Sqrt(s)
	return Estimate{Value: v, Lower: v - h, Upper: v + h, Available: true}
}

// chart draws two series of rates with interval bars as inline SVG, and
// returns a text alternative listing the same numbers.
func chart(title string, terms []TermRates, first, second string) (template.HTML, string, error) {
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = "attendance rate, %"
	var ticks []plot.Tick
	var alt []string
	lo, hi := 100.0, 0.0
	add := func(get func(TermRates) Estimate, offset float64, c color.Color, name string) error {
		var pts plotter.XYs
		var errs plotter.YErrors
		for i, t := range terms {
			e := get(t)
			if !e.Available {
				continue
			}
			pts = append(pts, plotter.XY{X: float64(i) + offset, Y: e.Value})
			errs = append(errs, struct{ Low, High float64 }{e.Value - e.Lower, e.Upper - e.Value})
			lo, hi = math.Min(lo, e.Lower), math.Max(hi, e.Upper)
			alt = append(alt, fmt.Sprintf("%s, %s: %s", name, t.Term, e))
		}
		if len(pts) == 0 {
			return nil
		}
		s, err := plotter.NewScatter(pts)
		if err != nil {
			return err
		}
		s.GlyphStyle.Color, s.GlyphStyle.Radius = c, vg.Points(3.5)
		if c == othersColour {
			s.GlyphStyle.Shape = draw.BoxGlyph{}
		} else {
			s.GlyphStyle.Shape = draw.CircleGlyph{}
		}
		bars, err := plotter.NewYErrorBars(struct {
			plotter.XYs
			plotter.YErrors
		}{pts, errs})
		if err != nil {
			return err
		}
		bars.LineStyle.Color = c
		bars.LineStyle.Width = vg.Points(1.2)
		p.Add(bars, s)
		p.Legend.Add(name, s)
		return nil
	}
	if err := add(func(t TermRates) Estimate { return t.Participants }, -0.08, participantsColour, first); err != nil {
		return "", "", err
	}
	if second != "" {
		if err := add(func(t TermRates) Estimate { return t.Others }, 0.08, othersColour, second); err != nil {
			return "", "", err
		}
	}
	for i, t := range terms {
		ticks = append(ticks, plot.Tick{Value: float64(i), Label: t.Term})
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	p.X.Min, p.X.Max = -0.5, float64(len(terms))-0.5
	if hi > lo {
		pad := math.Max(0.5, (hi-lo)*0.1)
		p.Y.Min, p.Y.Max = lo-pad, math.Min(100, hi+pad)
	}
	// Bottom right is where these charts are emptiest: rates rise left to right.
	p.Legend.Top = false
	p.Legend.Left = false
	p.Legend.YOffs = vg.Points(4)
	p.Legend.XOffs = -vg.Points(12)
	wt, err := p.WriterTo(9*vg.Inch, 3.6*vg.Inch, "svg")
	if err != nil {
		return "", "", err
	}
	var b bytes.Buffer
	if _, err := wt.WriteTo(&b); err != nil {
		return "", "", err
	}
	svg := b.String()
	if i := strings.Index(svg, "<svg"); i > 0 {
		svg = svg[i:]
	}
	altText := title + ". " + strings.Join(alt, "; ") + "."
	// role and aria-label give screen readers the same numbers as the picture.
	svg = strings.Replace(svg, "<svg", fmt.Sprintf(`<svg role="img" aria-label="%s"`, template.HTMLEscapeString(altText)), 1)
	return template.HTML(svg), altText, nil
}
