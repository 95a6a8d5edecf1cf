// Package postprocess turns noisy DP cells into the published attendance
// table. Everything here works on noisy values only, so it costs no privacy:
// deriving the Others group (all pupils minus participants), ratios of noisy
// sums, clamping negatives to zero,
// rounding, and suppressing rows whose noisy pupil count is small. Suppression
// is a reliability measure: the differential privacy protects the pupils.
package postprocess

import (
	"math"

	"github.com/outcomes/outcomes/schemas"
	"github.com/outcomes/outcomes/transforms/privacy"
)

// z95 is the normal quantile for two-sided 95% intervals of derived values.
const z95 = 1.959964

// Layout is the public description of the partitions, from configuration.
type Layout struct {
	TrustID, TrustName string
	Schools            []School
	Terms              []Term
	Programmes         []Programme
	// RoundingBase rounds counts and sums to a multiple of it (half up).
	RoundingBase int64
	// SuppressBelow suppresses rows whose noisy pupil count is below it.
	SuppressBelow int64
	// MAT and School say which geographic levels are published.
	MAT, School bool
}

// School carries the published columns of one school.
type School struct{ URN, Name, LAESTAB, OldLACode, NewLACode, LAName string }

// Term is a reporting term: ID is the partition key, Name the EES time_identifier.
type Term struct{ ID, Name, AcademicYear string }

// Programme is a health initiative.
type Programme struct{ ID, Name string }

// value is a noisy quantity with its 95% interval and the scales of the
// independent Laplace noises it sums, for deriving intervals of sums,
// differences and ratios.
type value struct {
	v            float64
	lower, upper float64
	scales       []float64
}

func fromEstimate(e privacy.Estimate) value {
	return value{v: float64(e.Value), lower: e.Lower, upper: e.Upper, scales: []float64{math.Sqrt(e.NoiseVariance / 2)}}
}

// variance of the noise: 2b² per Laplace term.
func (x value) variance() float64 {
	s := 0.0
	for _, b := range x.scales {
		s += 2 * b * b
	}
	return s
}

// combine makes a sum or difference of independent noisy values (their noise
// is symmetric, so the interval is the same either way). Two Laplace terms
// get the exact quantile of their sum; more use the normal approximation.
func combine(v float64, a, b value) value {
	scales := append(append([]float64{}, a.scales...), b.scales...)
	h := halfWidth(scales)
	return value{v: v, scales: scales, lower: v - h, upper: v + h}
}

// halfWidth is the 95% half-width of a sum of independent Laplace noises
// with these scales: exact for one or two terms, normal beyond.
func halfWidth(scales []float64) float64 {
	switch len(scales) {
	case 0:
		return 0
	case 1:
		return scales[0] * math.Log(20)
	case 2:
		return twoLaplaceHalfWidth(scales[0], scales[1], 0.05)
	}
	v := 0.0
	for _, b := range scales {
		v += 2 * b * b
	}
	return z95 * math.Sqrt(v)
}

func add(a, b value) value { return combine(a.v+b.v, a, b) }
func sub(a, b value) value { return combine(a.v-b.v, a, b) }

// twoLaplaceHalfWidth returns h with P(|X+Y| > h) = alpha for independent
// X ~ Laplace(a), Y ~ Laplace(b), from the closed-form tail of their sum,
// solved by bisection. Zero scales (no noise) give zero.
func twoLaplaceHalfWidth(a, b, alpha float64) float64 {
	if a <= 0 && b <= 0 {
		return 0
	}
	if a <= 0 || b <= 0 {
		return math.Max(a, b) * math.Log(1/alpha)
	}
	tail := func(z float64) float64 { // P(X+Y > z), z >= 0
		if math.Abs(a-b) < 1e-9*math.Max(a, b) {
			return math.Exp(-z/a) * (2 + z/a) / 4
		}
		return (a*a*math.Exp(-z/a) - b*b*math.Exp(-z/b)) / (2 * (a*a - b*b))
	}
	lo, hi := 0.0, 60*math.Max(a, b)
	for i := 0; i < 200; i++ {
		mid := (lo + hi) / 2
		if 2*tail(mid) > alpha {
			lo = mid
		} else {
			hi = mid
		}
	}
	return (lo + hi) / 2
}

// measures are one row's noisy quantities before presentation.
type measures struct {
	pupils, possible, authorised, unauthorised, persistent value
}

func fromCell(c privacy.Cell) measures {
	return measures{
		pupils: fromEstimate(c.Pupils), possible: fromEstimate(c.PossibleSessions),
		authorised: fromEstimate(c.AuthorisedAbsence), unauthorised: fromEstimate(c.UnauthorisedAbsence),
		persistent: fromEstimate(c.PersistentAbsentees),
	}
}

func (m measures) minus(o measures) measures {
	return measures{sub(m.pupils, o.pupils), sub(m.possible, o.possible), sub(m.authorised, o.authorised),
		sub(m.unauthorised, o.unauthorised), sub(m.persistent, o.persistent)}
}

// AttendanceTable builds the published rows from the DP cells: for every
// term, the trust (MAT, from its own DP cells) and each school, the Total group
// and each programme's Participants and Others (Total minus Participants),
// sorted by public keys. A public partition missing from cells is an error:
// every one must have been aggregated and is published, empty or not.
func AttendanceTable(cells []privacy.Cell, layout Layout) ([]schemas.AttendanceRow, error) {
	byPartition := make(map[privacy.Partition]measures, len(cells))
	for _, c := range cells {
		byPartition[c.Partition] = fromCell(c)
	}
	var rows []schemas.AttendanceRow
	level := func(term Term, school *School) error {
		key, lvl := privacy.AllSchools, schemas.LevelMAT
		if school != nil {
			key, lvl = school.URN, schemas.LevelSchool
		}
		get := func(programme string) (measures, error) {
			m, ok := byPartition[privacy.Partition{School: key, Term: term.ID, Programme: programme}]
			if !ok {
				return measures{}, &MissingCellError{School: key, Term: term.ID, Programme: programme}
			}
			return m, nil
		}
		total, err := get(privacy.TotalProgramme)
		if err != nil {
			return err
		}
		base := layout.row(term, lvl, school)
		rows = append(rows, layout.present(base, total, "total", "Total", schemas.GroupTotal))
		for _, prog := range layout.Programmes {
			part, err := get(prog.ID)
			if err != nil {
				return err
			}
			rows = append(rows,
				layout.present(base, part, prog.ID, prog.Name, schemas.GroupParticipants),
				layout.present(base, total.minus(part), prog.ID, prog.Name, schemas.GroupOthers))
		}
		return nil
	}
	for _, term := range layout.Terms {
		if layout.MAT {
			if err := level(term, nil); err != nil {
				return nil, err
			}
		}
		if layout.School {
			for i := range layout.Schools {
				if err := level(term, &layout.Schools[i]); err != nil {
					return nil, err
				}
			}
		}
	}
	return rows, nil
}

// MissingCellError reports a public partition with no DP cell.
type MissingCellError struct{ School, Term, Programme string }

func (e *MissingCellError) Error() string {
	return "no aggregate for school " + e.School + ", term " + e.Term + ", programme " + e.Programme
}

func (l Layout) row(term Term, level string, s *School) schemas.AttendanceRow {
	r := schemas.AttendanceRow{
		TimePeriod: term.AcademicYear, TimeIdentifier: term.Name, GeographicLevel: level,
		CountryCode: schemas.CountryCode, CountryName: schemas.CountryName,
		TrustID: l.TrustID, TrustName: l.TrustName,
	}
	if s != nil {
		r.SchoolURN, r.SchoolName, r.SchoolLAESTAB = s.URN, s.Name, s.LAESTAB
		r.OldLACode, r.NewLACode, r.LAName = s.OldLACode, s.NewLACode, s.LAName
	}
	return r
}

// present applies clamping, rates, suppression and rounding to one row.
func (l Layout) present(base schemas.AttendanceRow, m measures, progID, progName, group string) schemas.AttendanceRow {
	r := base
	r.ProgrammeID, r.Programme, r.PupilGroup = progID, progName, group
	pupils := math.Max(0, m.pupils.v)
	if pupils < float64(l.SuppressBelow) {
		r.Suppressed = true
		return r
	}
	missed := add(m.authorised, m.unauthorised)
	r.Pupils, r.PupilsLower95, r.PupilsUpper95 = l.count(m.pupils)
	r.PossibleSessions, r.PossibleSessionsLower95, r.PossibleSessionsUpper95 = l.count(m.possible)
	r.SessionsMissed, r.SessionsMissedLower95, r.SessionsMissedUpper95 = l.count(missed)
	r.AuthorisedAbsence, r.AuthorisedAbsenceLower95, r.AuthorisedAbsenceUpper95 = l.count(m.authorised)
	r.UnauthorisedAbsence, r.UnauthorisedAbsenceLower95, r.UnauthorisedAbsenceUpper95 = l.count(m.unauthorised)
	r.PersistentAbsentees, r.PersistentAbsenteesLower95, r.PersistentAbsenteesUpper95 = l.count(m.persistent)

	if rate, lo, hi, ok := ratio(missed, m.possible); ok {
		r.OverallAbsenceRate = percent(rate)
		r.AttendanceRate, r.AttendanceRateLower95, r.AttendanceRateUpper95 = percent(1-rate), percent(1-hi), percent(1-lo)
	}
	if rate, lo, hi, ok := ratio(m.persistent, m.pupils); ok {
		r.PersistentAbsenceRate, r.PersistentAbsenceRateLow95, r.PersistentAbsenceRateUp95 = percent(rate), percent(lo), percent(hi)
	}
	return r
}

// ratio returns num/den clamped to [0, 1] with a 95% interval from the
// linearised error (e_num - rate x e_den) / den, whose terms are the
// independent Laplace noises of both values (separate measures).
func ratio(num, den value) (rate, lower, upper float64, ok bool) {
	n, d := math.Max(0, num.v), den.v
	if d <= 0 {
		return 0, 0, 0, false
	}
	rate = math.Min(1, n/d)
	scales := append([]float64{}, num.scales...)
	for _, b := range den.scales {
		scales = append(scales, rate*b)
	}
	h := halfWidth(scales) / d
	return rate, math.Max(0, rate-h), math.Min(1, rate+h), true
}

// count clamps a noisy count or sum at zero and rounds it half up to the
// rounding base; the interval is widened outwards to the base so rounding
// never narrows it.
func (l Layout) count(v value) (val, lower, upper *int64) {
	b := l.RoundingBase
	if b < 1 {
		b = 1
	}
	roundHalfUp := int64(math.Floor(math.Max(0, v.v)/float64(b)+0.5)) * b
	lo := int64(math.Floor(math.Max(0, v.lower)/float64(b))) * b
	hi := int64(math.Ceil(math.Max(0, v.upper)/float64(b))) * b
	return &roundHalfUp, &lo, &hi
}

func percent(x float64) *float64 {
	p := math.Round(x*1000) / 10
	return &p
}
