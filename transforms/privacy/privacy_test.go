package privacy

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/outcomes/outcomes/transforms/privacy/privacytest"
)

func equalEpsilon(e float64) map[string]float64 {
	m := map[string]float64{}
	for _, k := range Measures {
		m[k] = e
	}
	return m
}

var (
	autumn   = Partition{School: "900001", Term: "202425-autumn", Programme: TotalProgramme}
	autumnP  = Partition{School: "900001", Term: "202425-autumn", Programme: "mhst"}
	empty    = Partition{School: "900002", Term: "202425-autumn", Programme: TotalProgramme}
	sessions = map[string]int64{"202425-autumn": 140}
)

func exactAggregator(t *testing.T) *Aggregator {
	t.Helper()
	a, err := New([]Partition{autumnP, autumn, empty}, Options{
		Epsilon: equalEpsilon(1), MaxPartitions: 2, MaxSessions: sessions, Noise: privacytest.NoNoise(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestAggregateExactAndClamped(t *testing.T) {
	a := exactAggregator(t)
	adds := []Contribution{
		{Partition: autumn, PupilKey: 1, PossibleSessions: 130, AuthorisedAbsence: 10, UnauthorisedAbsence: 4, PersistentAbsentee: true},
		{Partition: autumnP, PupilKey: 1, PossibleSessions: 130, AuthorisedAbsence: 10, UnauthorisedAbsence: 4, PersistentAbsentee: true},
		{Partition: autumn, PupilKey: 2, PossibleSessions: 5000, AuthorisedAbsence: -3, UnauthorisedAbsence: 200},
	}
	for _, c := range adds {
		if err := a.Add(c); err != nil {
			t.Fatal(err)
		}
	}
	cells, err := a.Results()
	if err != nil {
		t.Fatal(err)
	}
	if len(cells) != 3 {
		t.Fatalf("got %d cells, want 3 (the empty public partition too)", len(cells))
	}
	byP := map[Partition]Cell{}
	for _, c := range cells {
		byP[c.Partition] = c
	}
	tests := []struct {
		p                                       Partition
		pupils, possible, auth, unauth, persist int64
	}{
		// pupil 2 is clamped to 140 sessions: 5000 -> 140, -3 -> 0, 200 -> 140.
		{autumn, 2, 130 + 140, 10, 4 + 140, 1},
		{autumnP, 1, 130, 10, 4, 1},
		{empty, 0, 0, 0, 0, 0},
	}
	for _, tt := range tests {
		c := byP[tt.p]
		got := []int64{c.Pupils.Value, c.PossibleSessions.Value, c.AuthorisedAbsence.Value, c.UnauthorisedAbsence.Value, c.PersistentAbsentees.Value}
		want := []int64{tt.pupils, tt.possible, tt.auth, tt.unauth, tt.persist}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("%s %s = %d, want %d", tt.p, Measures[i], got[i], want[i])
			}
		}
	}
	if cells[0].Partition != autumnP || cells[1].Partition != autumn || cells[2].Partition != empty {
		t.Errorf("cells not sorted by public keys: %v %v %v", cells[0].Partition, cells[1].Partition, cells[2].Partition)
	}
	if _, err := a.Results(); !errors.Is(err, ErrResultsTaken) {
		t.Errorf("second Results: got %v, want ErrResultsTaken", err)
	}
}

// TestAddRefusesUnboundedInput checks each refusal through Add and through
// AddAt, which the pipeline uses; AddAt also refuses a position that holds
// another partition.
func TestAddRefusesUnboundedInput(t *testing.T) {
	tests := []struct {
		name       string
		adds       []Contribution
		want       string
		wantAt     string // when AddAt says it otherwise
		positionAt int    // AddAt's position for a partition Index does not know
	}{
		{name: "partition not configured", adds: []Contribution{{Partition: Partition{"999999", "202425-autumn", "total"}, PupilKey: 1}},
			want: "not in the configured partitions", wantAt: "holds another"},
		{name: "partition not configured, position out of range", adds: []Contribution{{Partition: Partition{"999999", "202425-autumn", "total"}, PupilKey: 1}},
			want: "not in the configured partitions", wantAt: "holds another", positionAt: 3},
		{name: "twice to one partition", adds: []Contribution{{Partition: autumn, PupilKey: 1}, {Partition: autumn, PupilKey: 1}}, want: "twice"},
		{name: "past MaxPartitions", adds: []Contribution{{Partition: autumn, PupilKey: 1}, {Partition: autumnP, PupilKey: 1}, {Partition: empty, PupilKey: 1}},
			want: "more than 2 partitions"},
	}
	for _, tt := range tests {
		for _, at := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/AddAt=%v", tt.name, at), func(t *testing.T) {
				a := exactAggregator(t)
				var err error
				for _, c := range tt.adds {
					if at {
						i, ok := a.Index(c.Partition)
						if !ok {
							i = tt.positionAt
						}
						err = a.AddAt(i, c)
					} else {
						err = a.Add(c)
					}
					if err != nil {
						break
					}
				}
				want := tt.want
				if at && tt.wantAt != "" {
					want = tt.wantAt
				}
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("got %v, want an error containing %q", err, want)
				}
			})
		}
	}
	a := exactAggregator(t)
	if err := a.AddAt(0, Contribution{Partition: autumn, PupilKey: 1}); err == nil || !strings.Contains(err.Error(), "holds another") {
		t.Errorf("AddAt at another partition's position: got %v", err)
	}
}

// TestAddAtMatchesAdd adds the same contributions through Add and through
// AddAt: the cells must be the same.
func TestAddAtMatchesAdd(t *testing.T) {
	var adds []Contribution
	for k := int64(0); k < 300; k++ {
		adds = append(adds, Contribution{Partition: autumn, PupilKey: k, PossibleSessions: 100 + k%60, AuthorisedAbsence: k % 7, UnauthorisedAbsence: k % 5, PersistentAbsentee: k%4 == 0})
		if k%3 == 0 {
			adds = append(adds, Contribution{Partition: autumnP, PupilKey: k, PossibleSessions: 100 + k%60, AuthorisedAbsence: k % 7})
		} else if k%3 == 1 {
			adds = append(adds, Contribution{Partition: empty, PupilKey: k, UnauthorisedAbsence: 3})
		}
	}
	viaAdd, viaAddAt := exactAggregator(t), exactAggregator(t)
	for _, c := range adds {
		if err := viaAdd.Add(c); err != nil {
			t.Fatal(err)
		}
		i, ok := viaAddAt.Index(c.Partition)
		if !ok {
			t.Fatalf("Index(%s) not found", c.Partition)
		}
		if err := viaAddAt.AddAt(i, c); err != nil {
			t.Fatal(err)
		}
	}
	want, err := viaAdd.Results()
	if err != nil {
		t.Fatal(err)
	}
	got, err := viaAddAt.Results()
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("AddAt gave\n%v\nAdd gave\n%v", got, want)
	}
	if want[1].Pupils.Value != 300 {
		t.Errorf("all-pupils cell counted %d pupils, want 300", want[1].Pupils.Value)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	if _, err := New([]Partition{autumn}, Options{Epsilon: equalEpsilon(0), MaxPartitions: 1, MaxSessions: sessions}); err == nil {
		t.Error("epsilon 0 accepted")
	}
	if _, err := New([]Partition{autumn}, Options{Epsilon: equalEpsilon(1), MaxPartitions: 0, MaxSessions: sessions}); err == nil {
		t.Error("MaxPartitions 0 accepted")
	}
	if _, err := New([]Partition{{School: "1", Term: "other", Programme: "total"}}, Options{Epsilon: equalEpsilon(1), MaxPartitions: 1, MaxSessions: sessions}); err == nil {
		t.Error("term without a session bound accepted")
	}
}

// TestNoiseHasConfiguredSpread draws many releases of one partition with the
// library's Laplace noise and checks the noise's mean, mean absolute value and
// variance against b = MaxPartitions x sensitivity / epsilon. Each check allows
// five standard errors, so a correct implementation fails a check with
// probability below 1e-6; a mechanism with the wrong scale (even by 10%) fails.
func TestNoiseHasConfiguredSpread(t *testing.T) {
	if testing.Short() {
		t.Skip("statistical test")
	}
	const (
		releases      = 20000
		maxPartitions = 3
		epsilon       = 0.5
	)
	var countNoise, sumNoise []float64
	covered := 0
	for i := 0; i < releases; i++ {
		a, err := New([]Partition{autumn}, Options{Epsilon: equalEpsilon(epsilon), MaxPartitions: maxPartitions, MaxSessions: sessions})
		if err != nil {
			t.Fatal(err)
		}
		for k := int64(0); k < 50; k++ {
			if err := a.Add(Contribution{Partition: autumn, PupilKey: k, PossibleSessions: 100, AuthorisedAbsence: 7}); err != nil {
				t.Fatal(err)
			}
		}
		cells, err := a.Results()
		if err != nil {
			t.Fatal(err)
		}
		c := cells[0]
		countNoise = append(countNoise, float64(c.Pupils.Value-50))
		sumNoise = append(sumNoise, float64(c.PossibleSessions.Value-5000))
		if c.Pupils.Lower <= 50 && 50 <= c.Pupils.Upper {
			covered++
		}
	}
	check := func(name string, xs []float64, b float64) {
		n := float64(len(xs))
		var sum, sumAbs, sumSq float64
		for _, x := range xs {
			sum += x
			sumAbs += math.Abs(x)
			sumSq += x * x
		}
		mean, meanAbs, variance := sum/n, sumAbs/n, sumSq/n
		sd := math.Sqrt(2) * b
		if math.Abs(mean) > 5*sd/math.Sqrt(n) {
			t.Errorf("%s: mean noise %.3f, want 0 ± %.3f", name, mean, 5*sd/math.Sqrt(n))
		}
		// |X| ~ Exponential(b): mean b, sd b.
		if math.Abs(meanAbs-b) > 5*b/math.Sqrt(n) {
			t.Errorf("%s: mean |noise| %.3f, want b = %.3f ± %.3f", name, meanAbs, b, 5*b/math.Sqrt(n))
		}
		// Var(X²) = E[X⁴] - (2b²)² = 24b⁴ - 4b⁴ = 20b⁴.
		if math.Abs(variance-2*b*b) > 5*math.Sqrt(20)*b*b/math.Sqrt(n) {
			t.Errorf("%s: noise variance %.1f, want 2b² = %.1f", name, variance, 2*b*b)
		}
		t.Logf("%s: b=%.2f mean=%.3f mean|x|=%.3f var=%.1f (want %.1f)", name, b, mean, meanAbs, variance, 2*b*b)
	}
	check("count", countNoise, LaplaceScale(maxPartitions, 1, epsilon))
	check("sum", sumNoise, LaplaceScale(maxPartitions, sessions["202425-autumn"], epsilon))

	// The library's 95% interval for the count must cover the true value in
	// 95% of releases; allow 93-97% (the binomial sd is 0.15%).
	coverage := float64(covered) / releases
	t.Logf("95%% interval coverage of the true count: %.2f%%", 100*coverage)
	if coverage < 0.93 || coverage > 0.97 {
		t.Errorf("interval coverage %.3f, want 0.93-0.97", coverage)
	}
}

// BenchmarkAdd is the per-contribution cost of the DP layer's bounding checks
// and dpagg accumulation, through AddAt as the pipeline adds them: a trust's
// year, 20,000 pupils each in 12 cells (the trust and their school, 3 terms,
// all pupils and a programme), in no particular order, as a hash
// aggregate hands them over.
func BenchmarkAdd(b *testing.B) {
	var parts []Partition
	for _, school := range []string{AllSchools, "900001", "900002", "900003", "900004"} {
		for _, term := range []string{"202425-autumn", "202425-spring", "202425-summer"} {
			for _, programme := range []string{TotalProgramme, "mhst"} {
				parts = append(parts, Partition{School: school, Term: term, Programme: programme})
			}
		}
	}
	bounds := map[string]int64{"202425-autumn": 140, "202425-spring": 120, "202425-summer": 120}
	type add struct {
		part  int
		pupil int64
	}
	var adds []add
	for k := int64(0); k < 20000; k++ {
		school := 1 + int(k%4)
		for _, level := range []int{0, school} {
			for term := range 3 {
				for programme := range 2 {
					adds = append(adds, add{level*6 + term*2 + programme, k})
				}
			}
		}
	}
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(adds), func(i, j int) { adds[i], adds[j] = adds[j], adds[i] })
	b.ResetTimer()
	for b.Loop() {
		a, err := New(parts, Options{Epsilon: equalEpsilon(1), MaxPartitions: 12, MaxSessions: bounds})
		if err != nil {
			b.Fatal(err)
		}
		positions := make([]int, len(parts))
		for i, p := range parts {
			positions[i], _ = a.Index(p)
		}
		for _, c := range adds {
			if err := a.AddAt(positions[c.part], Contribution{Partition: parts[c.part], PupilKey: c.pupil, PossibleSessions: 110, AuthorisedAbsence: c.pupil % 9}); err != nil {
				b.Fatal(err)
			}
		}
	}
}
