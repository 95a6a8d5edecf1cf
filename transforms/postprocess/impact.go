package postprocess

import (
	"fmt"
	"math"

	"github.com/outcomes/outcomes/schemas"
	"github.com/outcomes/outcomes/transforms/privacy"
)

// ImpactLayout is the public description of the impact table, from configuration.
type ImpactLayout struct {
	TrustID, TrustName string
	Programmes         []Programme
	Periods            []ImpactPeriod
	Cells              []BreakdownCell
	// Strata is the number of matching strata (baseline bands x 2 FSM groups).
	Strata int
	// MinStratumPupils: strata whose noisy comparison count is below it are
	// left out of the matched estimates.
	MinStratumPupils float64
	// MaxChangeBP is the clamp of each pupil's change, in 1/privacy.ChangeScale.
	MaxChangeBP int64
	// RoundingBase and SuppressBelow as for the attendance table.
	RoundingBase, SuppressBelow int64
}

// ImpactPeriod is one period of index dates: ID is the partition key,
// TimePeriod and TimeIdentifier the EES columns.
type ImpactPeriod struct{ ID, TimePeriod, TimeIdentifier string }

// BreakdownCell is one cell of a breakdown: Key and Value are the partition
// keys ("total"/"Total", "fsm"/"Y", ...), Name and Label the published ones.
type BreakdownCell struct{ Key, Value, Name, Label string }

// Interval is an estimate with its 95% interval; OK is false when it cannot
// be estimated from the noisy sums (no matched participants, say).
type Interval struct {
	Value, Lower, Upper float64
	OK                  bool
}

// noisy is one noisy sum with its noise variance.
type noisy struct{ v, vv float64 }

// Stratum holds one matching stratum's noisy sums for one group, in the
// outcome's own units: pupils, the sum of per-pupil changes and the sum of
// their squares.
type Stratum struct {
	N, S, Q          float64
	VarN, VarS, VarQ float64
}

// ImpactEstimates are the three published estimates of one outcome.
type ImpactEstimates struct {
	Participants, Comparison, Difference Interval
}

// EstimateImpact combines per-stratum noisy sums into the participants'
// mean change, the matched comparison group's mean change (each stratum's
// comparison mean weighted by the participants' share of that stratum: exact
// matching by post-stratification) and their difference. Only strata with
// positive noisy participants and at least minStratum noisy comparison pupils
// count ("matched"); the participants' change is over those strata too, so
// the difference is the difference of the two published changes.
//
// Each interval is the estimate ± 1.96 sd, with the variance the sum of the
// sampling variance (from the noisy sums of squares: s²/n per group, the
// comparison's stratum by stratum) and the noise variance of the noisy sums,
// carried through by the delta method. maxSq bounds a pupil's squared
// change, and so each sample variance.
func EstimateImpact(part, comp []Stratum, minStratum, maxSq float64) ImpactEstimates {
	var nm, sp, qp, noiseP float64
	var matched []int
	for i := range part {
		if i < len(comp) && part[i].N > 0 && comp[i].N >= minStratum {
			matched = append(matched, i)
			nm += part[i].N
			sp += part[i].S
			qp += part[i].Q
		}
	}
	if nm < 1 || len(matched) == 0 {
		return ImpactEstimates{}
	}
	mp := sp / nm
	sampP := sampleVariance(nm, sp, qp, maxSq) / nm
	// Comparison: weighted stratum means.
	mc := 0.0
	means := make(map[int]float64, len(matched))
	for _, i := range matched {
		m := comp[i].S / comp[i].N
		m = math.Max(-math.Sqrt(maxSq), math.Min(math.Sqrt(maxSq), m))
		means[i] = m
		mc += part[i].N / nm * m
	}
	var sampC, noiseC, noiseD float64
	d := mp - mc
	for _, i := range matched {
		w := part[i].N / nm
		c := comp[i]
		sampC += w * w * sampleVariance(c.N, c.S, c.Q, maxSq) / c.N
		noiseC += w * w * (c.VarS + means[i]*means[i]*c.VarN) / (c.N * c.N)
		// The participants' noisy counts are the weights.
		noiseC += sq((means[i]-mc)/nm) * part[i].VarN
		noiseP += part[i].VarS/(nm*nm) + sq(mp/nm)*part[i].VarN
		noiseD += part[i].VarS/(nm*nm) + sq((means[i]+d)/nm)*part[i].VarN
		noiseD += w * w * (c.VarS + means[i]*means[i]*c.VarN) / (c.N * c.N)
	}
	return ImpactEstimates{
		Participants: interval(mp, sampP+noiseP),
		Comparison:   interval(mc, sampC+noiseC),
		Difference:   interval(d, sampP+sampC+noiseD),
	}
}

func sq(x float64) float64 { return x * x }

// sampleVariance is the unbiased sample variance from noisy n, sum and sum
// of squares, clamped to [0, maxSq] (noise can push it outside); with fewer
// than two pupils it is maxSq, the most it could be.
func sampleVariance(n, s, q, maxSq float64) float64 {
	if n < 2 {
		return maxSq
	}
	v := (q - s*s/n) / (n - 1)
	return math.Max(0, math.Min(maxSq, v))
}

func interval(v, variance float64) Interval {
	h := z95 * math.Sqrt(math.Max(0, variance))
	return Interval{Value: v, Lower: v - h, Upper: v + h, OK: true}
}

type impactKey struct {
	programme, period, breakdown, value string
	comparison                          bool
}

// ImpactTable builds the published impact rows from the DP cells: one row
// per programme x period x breakdown cell, in configuration order. Every
// public partition must be present.
func ImpactTable(cells []privacy.ImpactCell, l ImpactLayout) ([]schemas.ImpactRow, error) {
	byKey := map[impactKey][]privacy.ImpactCell{}
	for _, c := range cells {
		k := impactKey{c.Programme, c.Period, c.Breakdown, c.Value, c.Comparison}
		if byKey[k] == nil {
			byKey[k] = make([]privacy.ImpactCell, l.Strata)
		}
		if c.Stratum < 0 || c.Stratum >= l.Strata {
			return nil, fmt.Errorf("impact cell %s has a stratum outside 0..%d", c.ImpactPartition, l.Strata-1)
		}
		byKey[k][c.Stratum] = c
	}
	maxRate := float64(l.MaxChangeBP) / privacy.ChangeScale
	var rows []schemas.ImpactRow
	for _, prog := range l.Programmes {
		for _, per := range l.Periods {
			for _, bc := range l.Cells {
				part, ok1 := byKey[impactKey{prog.ID, per.ID, bc.Key, bc.Value, false}]
				comp, ok2 := byKey[impactKey{prog.ID, per.ID, bc.Key, bc.Value, true}]
				if !ok1 || !ok2 {
					return nil, fmt.Errorf("no impact aggregate for programme %s, period %s, %s %s", prog.ID, per.ID, bc.Key, bc.Value)
				}
				r := schemas.ImpactRow{
					TimePeriod: per.TimePeriod, TimeIdentifier: per.TimeIdentifier, GeographicLevel: schemas.LevelMAT,
					CountryCode: schemas.CountryCode, CountryName: schemas.CountryName, TrustID: l.TrustID, TrustName: l.TrustName,
					ProgrammeID: prog.ID, Programme: prog.Name, Breakdown: bc.Name, BreakdownValue: bc.Label,
				}
				np, nc := noisyTotal(part), noisyTotal(comp)
				if np.v < float64(l.SuppressBelow) || nc.v < float64(l.SuppressBelow) {
					r.Suppressed = true
					rows = append(rows, r)
					continue
				}
				base := Layout{RoundingBase: l.RoundingBase}
				r.Participants, _, _ = base.count(value{v: np.v})
				r.ComparisonPupils, _, _ = base.count(value{v: nc.v})
				att := EstimateImpact(strata(part, attendance), strata(comp, attendance), l.MinStratumPupils, maxRate*maxRate)
				pa := EstimateImpact(strata(part, persistence), strata(comp, persistence), l.MinStratumPupils, 1)
				r.ParticipantsChange, r.ParticipantsChangeLower95, r.ParticipantsChangeUpper95 = points(att.Participants)
				r.ComparisonChange, r.ComparisonChangeLower95, r.ComparisonChangeUpper95 = points(att.Comparison)
				r.Difference, r.DifferenceLower95, r.DifferenceUpper95 = points(att.Difference)
				r.ParticipantsPAChange, r.ParticipantsPAChangeLow95, r.ParticipantsPAChangeUp95 = points(pa.Participants)
				r.ComparisonPAChange, r.ComparisonPAChangeLow95, r.ComparisonPAChangeUp95 = points(pa.Comparison)
				r.PADifference, r.PADifferenceLower95, r.PADifferenceUpper95 = points(pa.Difference)
				rows = append(rows, r)
			}
		}
	}
	return rows, nil
}

// noisyTotal sums the strata's noisy counts as drawn (clamping each at zero
// first would bias the total upwards by the noise of the empty strata),
// then clamps the total.
func noisyTotal(cells []privacy.ImpactCell) noisy {
	var t noisy
	for _, c := range cells {
		t.v += float64(c.Pupils.Value)
		t.vv += c.Pupils.NoiseVariance
	}
	t.v = math.Max(0, t.v)
	return t
}

const (
	attendance = iota
	persistence
)

// strata converts one group's cells to an outcome's Stratum sums, in rate
// units (a change of 0.05 is 5 points).
func strata(cells []privacy.ImpactCell, outcome int) []Stratum {
	out := make([]Stratum, len(cells))
	for i, c := range cells {
		st := Stratum{N: float64(c.Pupils.Value), VarN: c.Pupils.NoiseVariance}
		switch outcome {
		case attendance:
			const k = privacy.ChangeScale
			st.S, st.VarS = float64(c.Change.Value)/k, c.Change.NoiseVariance/(k*k)
			st.Q, st.VarQ = float64(c.ChangeSq.Value)/k, c.ChangeSq.NoiseVariance/(k*k)
		case persistence:
			st.S, st.VarS = float64(c.PAChange.Value), c.PAChange.NoiseVariance
			// A change of -1, 0 or 1 squared is 1 for a switcher.
			st.Q, st.VarQ = float64(c.PASwitchers.Value), c.PASwitchers.NoiseVariance
		}
		out[i] = st
	}
	return out
}

// points presents a rate change in percentage points to one decimal place.
func points(iv Interval) (v, lo, hi *float64) {
	if !iv.OK {
		return nil, nil, nil
	}
	p := func(x float64) *float64 { y := math.Round(x*1000) / 10; return &y }
	return p(iv.Value), p(iv.Lower), p(iv.Upper)
}

// IndexMonthWeights turns one programme's noisy counts of participants by
// month of index date into the sampling weights of the comparison group's
// pseudo index dates. Months whose noisy count exceeds its own 95% noise
// half-width keep their count as weight; if none does, every positive count
// does; if none is positive the weights are all zero (no comparison). It
// reads noisy values only, so costs nothing.
func IndexMonthWeights(counts []privacy.Estimate) []float64 {
	w := make([]float64, len(counts))
	any := false
	for i, c := range counts {
		if h := float64(c.Value) - c.Lower; float64(c.Value) > math.Max(h, 0) && c.Value > 0 {
			w[i], any = float64(c.Value), true
		}
	}
	if any {
		return w
	}
	for i, c := range counts {
		w[i] = math.Max(0, float64(c.Value))
	}
	return w
}
