package privacy

import (
	"fmt"
	"math"
	"sort"

	"github.com/google/differential-privacy/go/v3/dpagg"
	"github.com/google/differential-privacy/go/v3/noise"
)

// Impact measure names, one dpagg aggregation each. The guarantee of the
// package doc applies: an ImpactAggregator's release is ε-DP with ε the sum
// of these measures' epsilons, given its bounding checks hold.
const (
	ImpactIndexMonths  = "impact_index_months"   // participants per programme and month of first participation
	ImpactPupils       = "impact_pupils"         // pupils per impact cell
	ImpactChange       = "impact_change"         // sum of per-pupil change in attendance rate
	ImpactChangeSq     = "impact_change_squared" // sum of its squares, for the sampling variance
	ImpactPAChange     = "impact_pa_change"      // sum of per-pupil change in persistent absence (-1, 0, 1)
	ImpactPASwitchers  = "impact_pa_switchers"   // pupils whose persistent absence changed (its square)
	ImpactMatchWeights = "impact_match_weights"  // participants per matching stratum: the comparison's weights
)

// AllStrata is the Stratum of a participants' partition that holds their
// sums over every stratum: participants' changes are summed once, not per
// stratum, so their noise is not multiplied by the number of strata; their
// count per stratum (ImpactMatchWeights) is drawn separately, for matching.
const AllStrata = -1

// ImpactMeasures lists the impact table's measures in a fixed order.
var ImpactMeasures = []string{ImpactIndexMonths, ImpactPupils, ImpactMatchWeights, ImpactChange, ImpactChangeSq, ImpactPAChange, ImpactPASwitchers}

// ChangeScale is the unit of ImpactContribution.ChangeBP: hundredths of a
// percentage point (1e-4 of a rate), so sums stay integers (pitfall 5).
const ChangeScale = 10000

// Counter draws one noisy count per public key (dpagg Count), for a histogram
// such as participants by programme and index month. Each pupil may add to at
// most MaxPartitions keys, once each; Add refuses anything else.
type Counter struct {
	epsilon       float64
	maxPartitions int64
	noise         noise.Noise
	keys          []string
	counts        map[string]*dpagg.Count
	perPupil      map[int64]int64
	seen          map[string]map[int64]bool
	taken         bool
}

// NewCounter makes a Count for every key given, reached or not.
func NewCounter(keys []string, epsilon float64, maxPartitions int64, n noise.Noise) (*Counter, error) {
	if !(epsilon > 0) || math.IsInf(epsilon, 0) || maxPartitions < 1 {
		return nil, fmt.Errorf("privacy: counter needs epsilon > 0 and MaxPartitions >= 1, got %v and %d", epsilon, maxPartitions)
	}
	if n == nil {
		n = noise.Laplace()
	}
	c := &Counter{epsilon: epsilon, maxPartitions: maxPartitions, noise: n, counts: map[string]*dpagg.Count{},
		perPupil: map[int64]int64{}, seen: map[string]map[int64]bool{}}
	for _, k := range keys {
		if _, dup := c.counts[k]; dup {
			return nil, fmt.Errorf("privacy: counter key %q listed twice", k)
		}
		cnt, err := dpagg.NewCount(&dpagg.CountOptions{Epsilon: epsilon, MaxPartitionsContributed: maxPartitions, Noise: n})
		if err != nil {
			return nil, fmt.Errorf("privacy: counter key %q: %w", k, err)
		}
		c.counts[k] = cnt
		c.seen[k] = map[int64]bool{}
		c.keys = append(c.keys, k)
	}
	sort.Strings(c.keys)
	return c, nil
}

// Add counts one pupil in key.
func (c *Counter) Add(pupil int64, key string) error {
	if c.taken {
		return ErrResultsTaken
	}
	cnt, ok := c.counts[key]
	if !ok {
		return fmt.Errorf("privacy: count for key %q, which is not a configured partition", key)
	}
	if c.seen[key][pupil] {
		return fmt.Errorf("privacy: a pupil counted twice in %q", key)
	}
	if c.perPupil[pupil] >= c.maxPartitions {
		return fmt.Errorf("privacy: a pupil counted in more than %d keys; bound contributions before aggregating", c.maxPartitions)
	}
	c.seen[key][pupil] = true
	c.perPupil[pupil]++
	return cnt.Increment()
}

// Results draws the noise, once, for every key.
func (c *Counter) Results() (map[string]Estimate, error) {
	if c.taken {
		return nil, ErrResultsTaken
	}
	c.taken = true
	out := make(map[string]Estimate, len(c.keys))
	for _, k := range c.keys {
		v, err := c.counts[k].Result()
		if err != nil {
			return nil, fmt.Errorf("privacy: count %q: %w", k, err)
		}
		ci, err := c.counts[k].ComputeConfidenceInterval(Alpha)
		if err != nil {
			return nil, fmt.Errorf("privacy: count %q interval: %w", k, err)
		}
		out[k] = Estimate{Value: v, Lower: ci.LowerBound, Upper: ci.UpperBound, NoiseVariance: laplaceVariance(c.noise, c.maxPartitions, 1, c.epsilon)}
	}
	return out, nil
}

// ImpactPartition is a public cell of the impact table: a programme, a period
// of index dates, a breakdown cell ("total"/"Total", "fsm"/"Y", ...), the
// group (participants or comparison) and a matching stratum (baseline band x
// free school meals). All come from configuration. Comparison partitions of
// a stratum hold every measure but ImpactMatchWeights; participants'
// partitions hold every measure but ImpactMatchWeights at Stratum AllStrata,
// and ImpactMatchWeights alone at each stratum.
type ImpactPartition struct {
	Programme, Period string
	Breakdown, Value  string
	Comparison        bool
	Stratum           int
}

func (p ImpactPartition) String() string {
	g := "participants"
	if p.Comparison {
		g = "comparison"
	}
	return fmt.Sprintf("%s/%s/%s=%s/%s/stratum %d", p.Programme, p.Period, p.Breakdown, p.Value, g, p.Stratum)
}

// ImpactContribution is one pupil's bounded record for one impact partition.
// A participant's record names its own stratum: its sums go to the AllStrata
// partition and its count to the stratum's ImpactMatchWeights, one partition
// per measure either way.
type ImpactContribution struct {
	ImpactPartition
	PupilKey int64
	// ChangeBP is the post minus pre attendance rate in units of 1/ChangeScale.
	ChangeBP int64
	// ChangeSq is ChangeBP² / ChangeScale, rounded.
	ChangeSq int64
	// PAChange is persistent absentee after minus before: -1, 0 or 1.
	PAChange int64
}

// ImpactOptions configures an ImpactAggregator.
type ImpactOptions struct {
	// Epsilon per measure (ImpactPupils, ImpactMatchWeights, ImpactChange,
	// ImpactChangeSq, ImpactPAChange, ImpactPASwitchers). Required, each
	// greater than 0.
	Epsilon map[string]float64
	// MaxPartitions is how many impact partitions one pupil may reach. Required.
	MaxPartitions int64
	// MaxChangeBP bounds |ChangeBP|. Required.
	MaxChangeBP int64
	// Noise is the mechanism. Defaults to Laplace; tests may inject another.
	Noise noise.Noise
}

// ImpactCell holds the noisy sums of one impact partition; a participants'
// stratum partition has MatchWeight only, the others everything else.
type ImpactCell struct {
	ImpactPartition
	Pupils, Change, ChangeSq, PAChange, PASwitchers Estimate
	MatchWeight                                     Estimate
}

type impactAggs struct {
	weights                    *dpagg.Count // participants' stratum partitions only
	pupils, switchers          *dpagg.Count
	change, changeSq, paChange *dpagg.BoundedSumInt64
}

func weightsOnly(p ImpactPartition) bool { return !p.Comparison && p.Stratum != AllStrata }

// ImpactAggregator accumulates impact contributions for fixed public
// partitions. Not safe for concurrent use.
type ImpactAggregator struct {
	opt   ImpactOptions
	maxSq int64
	// partitions and cells in the same order, as given; index finds a
	// partition's position, and allStrata, for a participants' stratum
	// partition, the position of the partition over all strata that takes
	// its sums (-1 for any other partition, or when it is not configured).
	partitions []ImpactPartition
	cells      []*impactAggs
	index      map[ImpactPartition]int
	allStrata  []int
	// reached is which partitions each pupil has contributed to.
	reached reached
	taken   bool
}

// ImpactMaxSq is the bound of ImpactContribution.ChangeSq for a change bound.
func ImpactMaxSq(maxChangeBP int64) int64 {
	return (maxChangeBP*maxChangeBP + ChangeScale - 1) / ChangeScale
}

// NewImpact makes one dpagg aggregator per measure for every partition.
func NewImpact(partitions []ImpactPartition, opt ImpactOptions) (*ImpactAggregator, error) {
	if opt.MaxPartitions < 1 {
		return nil, fmt.Errorf("privacy: impact MaxPartitions must be at least 1, got %d", opt.MaxPartitions)
	}
	if opt.MaxChangeBP < 1 {
		return nil, fmt.Errorf("privacy: impact MaxChangeBP must be at least 1, got %d", opt.MaxChangeBP)
	}
	for _, m := range ImpactMeasures[1:] {
		if e := opt.Epsilon[m]; !(e > 0) || math.IsInf(e, 0) {
			return nil, fmt.Errorf("privacy: epsilon for %s must be greater than 0, got %v", m, e)
		}
	}
	if opt.Noise == nil {
		opt.Noise = noise.Laplace()
	}
	a := &ImpactAggregator{opt: opt, maxSq: ImpactMaxSq(opt.MaxChangeBP), index: make(map[ImpactPartition]int, len(partitions)),
		reached: newReached()}
	count := func(m string) (*dpagg.Count, error) {
		return dpagg.NewCount(&dpagg.CountOptions{Epsilon: opt.Epsilon[m], MaxPartitionsContributed: opt.MaxPartitions, Noise: opt.Noise})
	}
	sum := func(m string, lo, hi int64) (*dpagg.BoundedSumInt64, error) {
		return dpagg.NewBoundedSumInt64(&dpagg.BoundedSumInt64Options{Epsilon: opt.Epsilon[m], MaxPartitionsContributed: opt.MaxPartitions,
			Lower: lo, Upper: hi, Noise: opt.Noise})
	}
	for _, p := range partitions {
		if _, dup := a.index[p]; dup {
			return nil, fmt.Errorf("privacy: impact partition %s listed twice", p)
		}
		var c impactAggs
		var err error
		if weightsOnly(p) {
			c.weights, err = count(ImpactMatchWeights)
		} else if c.pupils, err = count(ImpactPupils); err == nil {
			if c.switchers, err = count(ImpactPASwitchers); err == nil {
				if c.change, err = sum(ImpactChange, -opt.MaxChangeBP, opt.MaxChangeBP); err == nil {
					if c.changeSq, err = sum(ImpactChangeSq, 0, a.maxSq); err == nil {
						c.paChange, err = sum(ImpactPAChange, -1, 1)
					}
				}
			}
		}
		if err != nil {
			return nil, fmt.Errorf("privacy: impact partition %s: %w", p, err)
		}
		a.index[p] = len(a.partitions)
		a.cells = append(a.cells, &c)
		a.partitions = append(a.partitions, p)
	}
	for _, p := range a.partitions {
		all := -1
		if !p.Comparison && p.Stratum != AllStrata {
			q := p
			q.Stratum = AllStrata
			if i, ok := a.index[q]; ok {
				all = i
			}
		}
		a.allStrata = append(a.allStrata, all)
	}
	return a, nil
}

// Add adds one pupil's record. It refuses a partition that is not public, a
// second record of a pupil in one partition and a pupil past MaxPartitions;
// values are clamped to their declared bounds whatever they say.
func (a *ImpactAggregator) Add(c ImpactContribution) error {
	if a.taken {
		return ErrResultsTaken
	}
	i, ok := a.index[c.ImpactPartition]
	if !ok || c.Stratum == AllStrata {
		return fmt.Errorf("privacy: impact contribution to partition %s, which is not in the configured partitions", c.ImpactPartition)
	}
	return a.add(i, c)
}

// Index returns the position of public partition p, for AddAt.
func (a *ImpactAggregator) Index(p ImpactPartition) (int, bool) {
	i, ok := a.index[p]
	return i, ok
}

// AddAt is Add for a record whose partition is at position i (from Index),
// which spares hashing the partition for every record. It refuses c when
// its partition is not the one at i.
func (a *ImpactAggregator) AddAt(i int, c ImpactContribution) error {
	if a.taken {
		return ErrResultsTaken
	}
	if i < 0 || i >= len(a.partitions) || a.partitions[i] != c.ImpactPartition {
		return fmt.Errorf("privacy: impact contribution to partition %s added at position %d, which holds another", c.ImpactPartition, i)
	}
	if c.Stratum == AllStrata {
		return fmt.Errorf("privacy: impact contribution to partition %s, which is not in the configured partitions", c.ImpactPartition)
	}
	return a.add(i, c)
}

func (a *ImpactAggregator) add(i int, c ImpactContribution) error {
	// A participant's count for matching goes to its stratum and its sums
	// to the participants' partition over all strata (one partition per
	// measure), so a second record in another stratum is a second record
	// there too: both are checked. Every check comes before any change, so
	// a refused record leaves the aggregator as it was.
	cell, sums := a.cells[i], a.cells[i]
	all := -1
	if !c.Comparison {
		if all = a.allStrata[i]; all < 0 {
			q := c.ImpactPartition
			q.Stratum = AllStrata
			return fmt.Errorf("privacy: impact partition %s is not in the configured partitions", q)
		}
		sums = a.cells[all]
	}
	pupil := a.reached.of(c.PupilKey)
	if a.reached.has(pupil, i) {
		return fmt.Errorf("privacy: a pupil contributed twice to impact partition %s", c.ImpactPartition)
	}
	if all >= 0 && a.reached.has(pupil, all) {
		return fmt.Errorf("privacy: a pupil contributed twice to impact partition %s", a.partitions[all])
	}
	if int64(pupil.n) >= a.opt.MaxPartitions {
		return fmt.Errorf("privacy: a pupil contributed to more than %d impact partitions; bound contributions before aggregating", a.opt.MaxPartitions)
	}
	a.reached.reach(pupil, i)
	if all >= 0 {
		a.reached.reach(pupil, all)
	}
	pupil.n++
	if !c.Comparison {
		if err := cell.weights.Increment(); err != nil {
			return err
		}
	}
	cell = sums
	pa := max(-1, min(1, c.PAChange))
	if err := cell.pupils.Increment(); err != nil {
		return err
	}
	if pa != 0 {
		if err := cell.switchers.Increment(); err != nil {
			return err
		}
	}
	if err := cell.change.Add(max(-a.opt.MaxChangeBP, min(a.opt.MaxChangeBP, c.ChangeBP))); err != nil {
		return err
	}
	if err := cell.changeSq.Add(max(0, min(a.maxSq, c.ChangeSq))); err != nil {
		return err
	}
	return cell.paChange.Add(pa)
}

// Results draws the noise for every partition, once.
func (a *ImpactAggregator) Results() ([]ImpactCell, error) {
	if a.taken {
		return nil, ErrResultsTaken
	}
	a.taken = true
	out := make([]ImpactCell, 0, len(a.partitions))
	for i, p := range a.partitions {
		c := a.cells[i]
		cell := ImpactCell{ImpactPartition: p}
		var err error
		if weightsOnly(p) {
			if cell.MatchWeight, err = a.count(c.weights, ImpactMatchWeights); err != nil {
				return nil, err
			}
			out = append(out, cell)
			continue
		}
		if cell.Pupils, err = a.count(c.pupils, ImpactPupils); err != nil {
			return nil, err
		}
		if cell.PASwitchers, err = a.count(c.switchers, ImpactPASwitchers); err != nil {
			return nil, err
		}
		if cell.Change, err = a.sum(c.change, ImpactChange, a.opt.MaxChangeBP); err != nil {
			return nil, err
		}
		if cell.ChangeSq, err = a.sum(c.changeSq, ImpactChangeSq, a.maxSq); err != nil {
			return nil, err
		}
		if cell.PAChange, err = a.sum(c.paChange, ImpactPAChange, 1); err != nil {
			return nil, err
		}
		out = append(out, cell)
	}
	return out, nil
}

func (a *ImpactAggregator) count(c *dpagg.Count, m string) (Estimate, error) {
	return estimate(c, m, laplaceVariance(a.opt.Noise, a.opt.MaxPartitions, 1, a.opt.Epsilon[m]))
}

func (a *ImpactAggregator) sum(s *dpagg.BoundedSumInt64, m string, lInf int64) (Estimate, error) {
	return estimate(s, m, laplaceVariance(a.opt.Noise, a.opt.MaxPartitions, lInf, a.opt.Epsilon[m]))
}

// laplaceVariance is 2b², b = maxPartitions x lInf / ε, dpagg's Laplace
// scale; zero for an injected mechanism that is not Laplace (tests).
func laplaceVariance(n noise.Noise, maxPartitions, lInf int64, epsilon float64) float64 {
	if noise.ToKind(n) != noise.LaplaceNoise {
		return 0
	}
	b := float64(maxPartitions) * float64(lInf) / epsilon
	return 2 * b * b
}
