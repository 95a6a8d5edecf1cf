package privacy

import (
	"fmt"
	"strings"
	"testing"

	"github.com/outcomes/outcomes/transforms/privacy/privacytest"
)

func impactEpsilons() map[string]float64 {
	eps := map[string]float64{}
	for _, m := range ImpactMeasures {
		eps[m] = 0.5
	}
	return eps
}

func impactPartitions() []ImpactPartition {
	var out []ImpactPartition
	for _, comparison := range []bool{false, true} {
		first := 0
		if !comparison {
			first = AllStrata
		}
		for s := first; s < 2; s++ {
			out = append(out, ImpactPartition{Programme: "mhst", Period: "ay-202425", Breakdown: "total", Value: "Total", Comparison: comparison, Stratum: s})
		}
	}
	return out
}

// TestImpactAggregatorBoundsEachPupil checks, without noise, that every
// value is clamped to its declared bound whatever the input says, that a
// participant's sums land in the all-strata partition and its count in its
// stratum's match weight, and that input breaking the bounds is refused.
func TestImpactAggregatorBoundsEachPupil(t *testing.T) {
	part := ImpactPartition{Programme: "mhst", Period: "ay-202425", Breakdown: "total", Value: "Total", Stratum: 1}
	comp := part
	comp.Comparison = true
	tests := []struct {
		name    string
		adds    []ImpactContribution
		wantErr string
		check   func(t *testing.T, cells map[ImpactPartition]ImpactCell)
	}{
		{"values clamped", []ImpactContribution{
			{ImpactPartition: comp, PupilKey: 1, ChangeBP: 99_999, ChangeSq: 1 << 40, PAChange: 7},
			{ImpactPartition: comp, PupilKey: 2, ChangeBP: -99_999, ChangeSq: -5, PAChange: -7},
		}, "", func(t *testing.T, cells map[ImpactPartition]ImpactCell) {
			c := cells[comp]
			if c.Pupils.Value != 2 || c.Change.Value != 0 || c.ChangeSq.Value != ImpactMaxSq(3000) || c.PAChange.Value != 0 || c.PASwitchers.Value != 2 {
				t.Errorf("comparison cell = %+v, want 2 pupils, change 3000-3000, squares %d+0, pa 1-1, 2 switchers", c, ImpactMaxSq(3000))
			}
		}},
		{"participant sums over all strata", []ImpactContribution{
			{ImpactPartition: part, PupilKey: 1, ChangeBP: 400, ChangeSq: 16, PAChange: -1},
		}, "", func(t *testing.T, cells map[ImpactPartition]ImpactCell) {
			all := part
			all.Stratum = AllStrata
			if c := cells[all]; c.Pupils.Value != 1 || c.Change.Value != 400 || c.ChangeSq.Value != 16 || c.PAChange.Value != -1 {
				t.Errorf("participants' all-strata cell = %+v", c)
			}
			if c := cells[part]; c.MatchWeight.Value != 1 || c.Pupils.Value != 0 {
				t.Errorf("participants' stratum cell = %+v, want match weight 1 only", c)
			}
		}},
		{"partition not configured", []ImpactContribution{
			{ImpactPartition: ImpactPartition{Programme: "asthma", Period: "ay-202425", Breakdown: "total", Value: "Total"}, PupilKey: 1},
		}, "not in the configured partitions", nil},
		{"all-strata partition named directly", []ImpactContribution{
			{ImpactPartition: ImpactPartition{Programme: "mhst", Period: "ay-202425", Breakdown: "total", Value: "Total", Stratum: AllStrata}, PupilKey: 1},
		}, "not in the configured partitions", nil},
		{"pupil twice in a partition", []ImpactContribution{
			{ImpactPartition: comp, PupilKey: 1}, {ImpactPartition: comp, PupilKey: 1},
		}, "twice", nil},
		{"pupil past max partitions", []ImpactContribution{
			{ImpactPartition: comp, PupilKey: 1}, {ImpactPartition: part, PupilKey: 1},
		}, "more than 1 impact partitions", nil},
	}
	// Each case goes through Add and through AddAt (as the pipeline adds),
	// which refuses a partition Index does not know as held by another.
	for _, tt := range tests {
		for _, at := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/AddAt=%v", tt.name, at), func(t *testing.T) {
				a, err := NewImpact(impactPartitions(), ImpactOptions{Epsilon: impactEpsilons(), MaxPartitions: 1, MaxChangeBP: 3000, Noise: privacytest.NoNoise()})
				if err != nil {
					t.Fatal(err)
				}
				wantErr := tt.wantErr
				for _, c := range tt.adds {
					if at {
						i, ok := a.Index(c.ImpactPartition)
						if !ok {
							wantErr = "holds another"
						}
						err = a.AddAt(i, c)
					} else {
						err = a.Add(c)
					}
					if err != nil {
						break
					}
				}
				if wantErr != "" {
					if err == nil || !strings.Contains(err.Error(), wantErr) {
						t.Fatalf("err = %v, want one containing %q", err, wantErr)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				res, err := a.Results()
				if err != nil {
					t.Fatal(err)
				}
				if len(res) != len(impactPartitions()) {
					t.Errorf("%d cells, want one per public partition (%d), reached or not", len(res), len(impactPartitions()))
				}
				cells := map[ImpactPartition]ImpactCell{}
				for _, c := range res {
					cells[c.ImpactPartition] = c
				}
				tt.check(t, cells)
				if _, err := a.Results(); err != ErrResultsTaken {
					t.Errorf("second Results: %v, want ErrResultsTaken", err)
				}
			})
		}
	}
}

func TestCounterBoundsEachPupil(t *testing.T) {
	c, err := NewCounter([]string{"mhst|2024-11", "mhst|2024-12"}, 1, 1, privacytest.NoNoise())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Add(1, "mhst|2024-11"); err != nil {
		t.Fatal(err)
	}
	if err := c.Add(1, "mhst|2024-12"); err == nil {
		t.Error("a pupil counted in two keys with MaxPartitions 1 was accepted")
	}
	if err := c.Add(2, "mhst|2025-01"); err == nil {
		t.Error("a key that is not configured was accepted")
	}
	got, err := c.Results()
	if err != nil {
		t.Fatal(err)
	}
	if got["mhst|2024-11"].Value != 1 || got["mhst|2024-12"].Value != 0 {
		t.Errorf("counts = %+v", got)
	}
}

// TestImpactAggregatorRefusesAParticipantInTwoStrata: a participant's sums
// go to the AllStrata partition whatever stratum it names, so two records
// of one pupil in one cell but different strata would count the pupil twice
// there; the aggregator refuses the second even when MaxPartitions allows it.
func TestImpactAggregatorRefusesAParticipantInTwoStrata(t *testing.T) {
	a, err := NewImpact(impactPartitions(), ImpactOptions{Epsilon: impactEpsilons(), MaxPartitions: 2, MaxChangeBP: 3000, Noise: privacytest.NoNoise()})
	if err != nil {
		t.Fatal(err)
	}
	p0 := ImpactPartition{Programme: "mhst", Period: "ay-202425", Breakdown: "total", Value: "Total", Stratum: 0}
	p1 := p0
	p1.Stratum = 1
	if err := a.Add(ImpactContribution{ImpactPartition: p0, PupilKey: 1, ChangeBP: 3000}); err != nil {
		t.Fatal(err)
	}
	if err := a.Add(ImpactContribution{ImpactPartition: p1, PupilKey: 1, ChangeBP: 3000}); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Fatalf("second stratum for one participant: err = %v, want a refusal", err)
	}
	// A comparison pupil's strata are separate partitions with their own sums.
	c0, c1 := p0, p1
	c0.Comparison, c1.Comparison = true, true
	if err := a.Add(ImpactContribution{ImpactPartition: c0, PupilKey: 2}); err != nil {
		t.Fatal(err)
	}
	if err := a.Add(ImpactContribution{ImpactPartition: c1, PupilKey: 2}); err != nil {
		t.Fatalf("comparison pupil in two strata within MaxPartitions: %v", err)
	}
}

// TestImpactAggregatorRefusalChangesNothing: a record refused because its
// participants' all-strata partition is not configured leaves the stratum's
// match weight as it was.
func TestImpactAggregatorRefusalChangesNothing(t *testing.T) {
	stratum := ImpactPartition{Programme: "mhst", Period: "ay-202425", Breakdown: "total", Value: "Total", Stratum: 0}
	other := stratum
	other.Programme = "asthma"
	a, err := NewImpact([]ImpactPartition{stratum, other}, ImpactOptions{Epsilon: impactEpsilons(), MaxPartitions: 1, MaxChangeBP: 3000, Noise: privacytest.NoNoise()})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Add(ImpactContribution{ImpactPartition: stratum, PupilKey: 1}); err == nil {
		t.Fatal("a participant with no all-strata partition was accepted")
	}
	res, err := a.Results()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res {
		if c.MatchWeight.Value != 0 {
			t.Errorf("%s: match weight %d after a refused record, want 0", c.ImpactPartition, c.MatchWeight.Value)
		}
	}
}

// TestImpactAddAtRefusesAnotherPosition: a record added at the position of
// a partition other than its own is refused, and changes nothing.
func TestImpactAddAtRefusesAnotherPosition(t *testing.T) {
	a, err := NewImpact(impactPartitions(), ImpactOptions{Epsilon: impactEpsilons(), MaxPartitions: 1, MaxChangeBP: 3000, Noise: privacytest.NoNoise()})
	if err != nil {
		t.Fatal(err)
	}
	comp := ImpactPartition{Programme: "mhst", Period: "ay-202425", Breakdown: "total", Value: "Total", Comparison: true, Stratum: 1}
	other := comp
	other.Stratum = 0
	i, ok := a.Index(other)
	if !ok {
		t.Fatal("Index: a configured partition not found")
	}
	for _, position := range []int{i, -1, len(impactPartitions())} {
		if err := a.AddAt(position, ImpactContribution{ImpactPartition: comp, PupilKey: 1}); err == nil || !strings.Contains(err.Error(), "holds another") {
			t.Errorf("AddAt(%d) of another partition's record: %v, want a refusal", position, err)
		}
	}
	// The refusals reached nothing: the pupil may still contribute once.
	j, _ := a.Index(comp)
	if err := a.AddAt(j, ImpactContribution{ImpactPartition: comp, PupilKey: 1}); err != nil {
		t.Errorf("the pupil's one record after the refusals: %v", err)
	}
}

// BenchmarkImpactAdd is the per-record cost of the impact table's bounding
// checks and sums, through AddAt as the pipeline adds them: 20,000 pupils,
// a fifth of them participants, in two strata.
func BenchmarkImpactAdd(b *testing.B) {
	parts := impactPartitions()
	for b.Loop() {
		a, err := NewImpact(parts, ImpactOptions{Epsilon: impactEpsilons(), MaxPartitions: 1, MaxChangeBP: 3000})
		if err != nil {
			b.Fatal(err)
		}
		for k := int64(0); k < 20000; k++ {
			p := ImpactPartition{Programme: "mhst", Period: "ay-202425", Breakdown: "total", Value: "Total", Comparison: k%5 != 0, Stratum: int(k % 2)}
			i, _ := a.Index(p)
			if err := a.AddAt(i, ImpactContribution{ImpactPartition: p, PupilKey: k, ChangeBP: k%600 - 300, ChangeSq: 9, PAChange: k%3 - 1}); err != nil {
				b.Fatal(err)
			}
		}
	}
}
