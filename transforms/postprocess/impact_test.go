package postprocess

import (
	"math"
	"testing"
)

// TestEstimateImpactWithoutNoise checks the estimator's arithmetic on exact
// sums: the participants' mean, the comparison's stratum means weighted by
// the participants' strata, their difference, and sampling-only intervals.
func TestEstimateImpactWithoutNoise(t *testing.T) {
	// Participants: 10 pupils, each +0.05 (sum 0.5, squares 10 x 0.0025).
	part := Stratum{N: 10, S: 0.5, Q: 0.025}
	tests := []struct {
		name                 string
		weights, comp        []Stratum
		minStratum           float64
		wantP, wantC, wantD  float64
		wantComparisonMissed bool
	}{
		{"one stratum", []Stratum{{N: 10}}, []Stratum{{N: 40, S: 0.4, Q: 0.004}}, 5, 0.05, 0.01, 0.04, false},
		{"weighted by participants, not by comparison size",
			[]Stratum{{N: 8}, {N: 2}}, []Stratum{{N: 100, S: 0, Q: 0}, {N: 10, S: 1, Q: 0.1}}, 5,
			0.05, 0.2 * 0.1, 0.05 - 0.02, false},
		{"stratum without participants ignored",
			[]Stratum{{N: 10}, {N: 0}}, []Stratum{{N: 50, S: 1, Q: 0.02}, {N: 50, S: -5, Q: 0.5}}, 5,
			0.05, 0.02, 0.03, false},
		{"no comparison stratum big enough", []Stratum{{N: 10}}, []Stratum{{N: 3, S: 0.3, Q: 0.03}}, 5, 0.05, 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := EstimateImpact(part, tt.weights, tt.comp, tt.minStratum, 0.09)
			if !got.Participants.OK || math.Abs(got.Participants.Value-tt.wantP) > 1e-12 {
				t.Errorf("participants = %+v, want %v", got.Participants, tt.wantP)
			}
			if tt.wantComparisonMissed {
				if got.Comparison.OK || got.Difference.OK {
					t.Errorf("comparison %+v, difference %+v: want not estimable", got.Comparison, got.Difference)
				}
				return
			}
			if math.Abs(got.Comparison.Value-tt.wantC) > 1e-12 || math.Abs(got.Difference.Value-tt.wantD) > 1e-12 {
				t.Errorf("comparison %v, difference %v, want %v and %v", got.Comparison.Value, got.Difference.Value, tt.wantC, tt.wantD)
			}
			// No noise: every participant changed by the same amount, so
			// their interval is a point; the difference's is the comparison's.
			if got.Participants.Upper-got.Participants.Lower > 1e-9 {
				t.Errorf("participants' interval %+v, want a point (no spread, no noise)", got.Participants)
			}
			if w, d := got.Comparison.Upper-got.Comparison.Lower, got.Difference.Upper-got.Difference.Lower; math.Abs(w-d) > 1e-9 {
				t.Errorf("difference interval width %v, want the comparison's %v", d, w)
			}
		})
	}
}

// TestMergeStrata checks the coarsening of thin comparison strata: bands
// merge upwards within an FSM group until each holds minStratum pupils.
func TestMergeStrata(t *testing.T) {
	n := func(ns ...float64) []Stratum {
		out := make([]Stratum, len(ns))
		for i, v := range ns {
			out[i] = Stratum{N: v, S: v}
		}
		return out
	}
	// Index band x 2 + FSM: (band0 N, band0 Y, band1 N, band1 Y, band2 N, band2 Y).
	tests := []struct {
		name string
		comp []Stratum
		want []float64
	}{
		{"all big enough", n(30, 25, 40, 20, 50, 21), []float64{30, 40, 50, 25, 20, 21}},
		{"thin top band joins the one below", n(30, 25, 40, 20, 5, 21), []float64{30, 45, 25, 20, 21}},
		{"thin low bands merge upwards", n(5, 25, 10, 20, 50, 21), []float64{65, 25, 20, 21}},
		{"a thin FSM group joins the other", n(30, 2, 40, 3, 50, 4), []float64{30, 40, 59}},
		{"everything thin", n(1, 1, 1, 1, 1, 1), []float64{6}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, c := MergeStrata(tt.comp, tt.comp, 20)
			var got []float64
			for _, s := range c {
				got = append(got, s.N)
			}
			if len(got) != len(tt.want) || len(w) != len(c) {
				t.Fatalf("merged to %v (weights %d), want %v", got, len(w), tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("merged to %v, want %v", got, tt.want)
				}
			}
		})
	}
}

func TestPointsNeverPublishesNegativeZero(t *testing.T) {
	for _, x := range []float64{-0.0001, math.Copysign(0, -1), 0.0004} {
		v, lo, hi := points(Interval{Value: x, Lower: x, Upper: x, OK: true})
		for _, p := range []*float64{v, lo, hi} {
			if *p != 0 || math.Signbit(*p) {
				t.Errorf("points(%v) = %v, want 0 without a sign", x, *p)
			}
		}
	}
	if v, _, _ := points(Interval{}); v != nil {
		t.Errorf("points of an estimate that could not be made = %v, want nil (z)", *v)
	}
}
