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

// EstimateImpact combines noisy sums into the participants' mean change
// (their sums over all strata), the matched comparison group's mean change
// and their difference. The comparison's change is its stratum means
// weighted by the participants' noisy count in each stratum (weights): exact
// matching by post-stratification. Only strata with a positive weight and
// at least minStratum noisy comparison pupils count; participants in other
// strata are compared with the matched strata (documented as a limit).
//
// Each interval is the estimate ± 1.96 sd, with the variance the sum of the
// sampling variance (from the noisy sums of squares: s²/n for participants,
// stratum by stratum for the comparison, weights held fixed) and the noise
// variance of every noisy sum, carried through by the delta method. The
// groups are disjoint pupils with independent noise, so the difference's
// variance is the sum of theirs. maxSq bounds a pupil's squared change, and
// so each sample variance.
func EstimateImpact(part Stratum, weights []Stratum, comp []Stratum, minStratum, maxSq float64) ImpactEstimates {
	if part.N < 1 {
		return ImpactEstimates{}
	}
	mp := part.S / part.N
	varP := sampleVariance(part.N, part.S, part.Q, maxSq)/part.N + (part.VarS+mp*mp*part.VarN)/(part.N*part.N)
	var total float64
	var matched []int
	for i := range weights {
		if i < len(comp) && weights[i].N > 0 && comp[i].N >= minStratum {
			matched = append(matched, i)
			total += weights[i].N
		}
	}
	out := ImpactEstimates{Participants: interval(mp, varP)}
	if len(matched) == 0 {
		return out
	}
	limit := math.Sqrt(maxSq)
	means := make(map[int]float64, len(matched))
	mc := 0.0
	for _, i := range matched {
		means[i] = math.Max(-limit, math.Min(limit, comp[i].S/comp[i].N))
		mc += weights[i].N / total * means[i]
	}
	varC := 0.0
	for _, i := range matched {
		w, c := weights[i].N/total, comp[i]
		varC += w * w * sampleVariance(c.N, c.S, c.Q, maxSq) / c.N
		varC += w * w * (c.VarS + means[i]*means[i]*c.VarN) / (c.N * c.N)
		varC += sq((means[i]-mc)/total) * weights[i].VarN // the weights are noisy too
	}
	out.Comparison = interval(mc, varC)
	out.Difference = interval(mp-mc, varP+varC)
	return out
}

func sq(x float64) float64 { return x * x }

func (a Stratum) plus(b Stratum) Stratum {
	return Stratum{N: a.N + b.N, S: a.S + b.S, Q: a.Q + b.Q, VarN: a.VarN + b.VarN, VarS: a.VarS + b.VarS, VarQ: a.VarQ + b.VarQ}
}

// MergeStrata coarsens the matching where the comparison is thin: strata
// come in pairs by free school meals (index band x 2 + FSM), and within each
// FSM group adjacent baseline bands are merged, lowest first, until each
// merged stratum holds at least minStratum noisy comparison pupils; a
// remainder joins the group's last merged stratum, or the other FSM group's
// when its own group has none. Sums are additive, so a merged stratum's sums
// and noise variances are the sums of its parts. It reads noisy values only.
func MergeStrata(weights, comp []Stratum, minStratum float64) (w, c []Stratum) {
	bands := len(comp) / 2
	var pendingW, pendingC Stratum
	pending := false
	for fsm := 0; fsm < 2; fsm++ {
		var accW, accC Stratum
		open, first := false, len(c)
		for b := 0; b < bands; b++ {
			i := 2*b + fsm
			accW, accC, open = accW.plus(weights[i]), accC.plus(comp[i]), true
			if accC.N >= minStratum {
				w, c = append(w, accW), append(c, accC)
				accW, accC, open = Stratum{}, Stratum{}, false
			}
		}
		switch {
		case open && len(c) > first:
			w[len(w)-1], c[len(c)-1] = w[len(w)-1].plus(accW), c[len(c)-1].plus(accC)
		case open:
			pendingW, pendingC, pending = pendingW.plus(accW), pendingC.plus(accC), true
		}
	}
	if pending {
		if len(c) > 0 {
			w[len(w)-1], c[len(c)-1] = w[len(w)-1].plus(pendingW), c[len(c)-1].plus(pendingC)
		} else {
			w, c = []Stratum{pendingW}, []Stratum{pendingC}
		}
	}
	return w, c
}

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
	// Comparison cells by stratum; participants' cells with the AllStrata
	// cell first, then the strata's match weights.
	byKey := map[impactKey][]privacy.ImpactCell{}
	seen := map[privacy.ImpactPartition]bool{}
	for _, c := range cells {
		k := impactKey{c.Programme, c.Period, c.Breakdown, c.Value, c.Comparison}
		offset := 0
		if !c.Comparison {
			offset = 1
		}
		if byKey[k] == nil {
			byKey[k] = make([]privacy.ImpactCell, l.Strata+offset)
		}
		if c.Stratum < -offset || c.Stratum >= l.Strata {
			return nil, fmt.Errorf("impact cell %s has a stratum outside the configured %d", c.ImpactPartition, l.Strata)
		}
		byKey[k][c.Stratum+offset] = c
		seen[c.ImpactPartition] = true
	}
	maxRate := float64(l.MaxChangeBP) / privacy.ChangeScale
	var rows []schemas.ImpactRow
	for _, prog := range l.Programmes {
		for _, per := range l.Periods {
			for _, bc := range l.Cells {
				part, ok1 := byKey[impactKey{prog.ID, per.ID, bc.Key, bc.Value, false}]
				comp, ok2 := byKey[impactKey{prog.ID, per.ID, bc.Key, bc.Value, true}]
				if !ok1 || !ok2 || !seen[part[0].ImpactPartition] || part[0].Stratum != privacy.AllStrata {
					return nil, fmt.Errorf("no impact aggregate for programme %s, period %s, %s %s", prog.ID, per.ID, bc.Key, bc.Value)
				}
				r := schemas.ImpactRow{
					TimePeriod: per.TimePeriod, TimeIdentifier: per.TimeIdentifier, GeographicLevel: schemas.LevelMAT,
					CountryCode: schemas.CountryCode, CountryName: schemas.CountryName, TrustID: l.TrustID, TrustName: l.TrustName,
					ProgrammeID: prog.ID, Programme: prog.Name, Breakdown: bc.Name, BreakdownValue: bc.Label,
				}
				all, weights := part[0], part[1:]
				np, nc := math.Max(0, float64(all.Pupils.Value)), noisyTotal(comp)
				if np < float64(l.SuppressBelow) || nc.v < float64(l.SuppressBelow) {
					r.Suppressed = true
					rows = append(rows, r)
					continue
				}
				base := Layout{RoundingBase: l.RoundingBase}
				r.Participants, _, _ = base.count(value{v: np})
				r.ComparisonPupils, _, _ = base.count(value{v: nc.v})
				w := make([]Stratum, len(weights))
				for i, c := range weights {
					w[i] = Stratum{N: float64(c.MatchWeight.Value), VarN: c.MatchWeight.NoiseVariance}
				}
				wa, ca := MergeStrata(w, strata(comp, attendance), l.MinStratumPupils)
				wp, cp := MergeStrata(w, strata(comp, persistence), l.MinStratumPupils)
				att := EstimateImpact(outcome(all, attendance), wa, ca, l.MinStratumPupils, maxRate*maxRate)
				pa := EstimateImpact(outcome(all, persistence), wp, cp, l.MinStratumPupils, 1)
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

func outcome(c privacy.ImpactCell, o int) Stratum { return strata([]privacy.ImpactCell{c}, o)[0] }

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
	// + 0 turns a negative zero into zero, so "-0.0" is never published.
	p := func(x float64) *float64 { y := math.Round(x*1000)/10 + 0; return &y }
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
