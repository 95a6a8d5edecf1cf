// Package privacy is the differential privacy layer: it turns bounded per-pupil
// contributions into noisy aggregates with github.com/google/differential-privacy's
// dpagg, which draws every bit of noise.
//
// # Guarantee
//
// With the pupil as the privacy unit, a release made by one Aggregator is
// ε-differentially private (δ = 0, Laplace noise) where ε is the sum of the
// per-measure epsilons in Options, provided that the caller's bounding holds:
// each pupil contributes at most one row to a partition and rows to at most
// MaxPartitions partitions. The Aggregator checks both and refuses input that
// breaks them, and clamps every value to its declared bounds, whatever the data say.
//
// # What it does not cover
//
//   - Partitions must be public (from configuration). Add refuses a
//     contribution to a partition it was not given.
//   - Linkage: a pupil split into two keys upstream counts twice.
//   - Repeated releases: each call to Results spends the budget again; the
//     ledger in package pipeline accounts for that.
//   - Intervals cover the noise only, not the bias clamping may introduce.
package privacy

import (
	"errors"
	"fmt"
	"math"
	"sort"

	"github.com/google/differential-privacy/go/v3/dpagg"
	"github.com/google/differential-privacy/go/v3/noise"
)

// Measure names, one dpagg aggregation each.
const (
	Pupils              = "pupils"
	PossibleSessions    = "possible_sessions"
	AuthorisedAbsence   = "authorised_absence"
	UnauthorisedAbsence = "unauthorised_absence"
	PersistentAbsentees = "persistent_absentees"
)

// Measures is every measure an Aggregator draws, in order.
var Measures = []string{Pupils, PossibleSessions, AuthorisedAbsence, UnauthorisedAbsence, PersistentAbsentees}

// Alpha is the significance level of the published intervals (95%).
const Alpha = 0.05

// ErrResultsTaken means Results was called before: dpagg results are
// single-shot, and drawing again would spend the budget twice.
var ErrResultsTaken = errors.New("results were already drawn from this aggregator")

// Partition is a public cell: a school, a term and either all pupils
// (Programme "total") or one programme's participants.
type Partition struct {
	School    string
	Term      string
	Programme string
}

// TotalProgramme marks the all-pupils partition of a school and term.
const TotalProgramme = "total"

// AllSchools is the School of a trust-level (MAT) partition. A pupil's
// contribution to the trust cell is a separate contribution, counted against
// MaxPartitions like any other.
const AllSchools = ""

func (p Partition) String() string { return p.School + "/" + p.Term + "/" + p.Programme }

// Contribution is one pupil's pre-aggregated values for one partition.
type Contribution struct {
	Partition
	PupilKey            int64
	PossibleSessions    int64
	AuthorisedAbsence   int64
	UnauthorisedAbsence int64
	PersistentAbsentee  bool
}

// Options configures an Aggregator.
type Options struct {
	// Epsilon per measure (keys are Measures). Required, each greater than 0.
	Epsilon map[string]float64
	// MaxPartitions is how many partitions one pupil may contribute to. Required.
	MaxPartitions int64
	// MaxSessions is the upper clamp of each term's session sums (2 x school days). Required for every term used.
	MaxSessions map[string]int64
	// Noise is the mechanism. Defaults to Laplace; tests may inject another.
	Noise noise.Noise
}

// Estimate is one noisy value with its 95% interval for the noise (from the
// library) and the noise's variance, for deriving intervals of sums and ratios.
type Estimate struct {
	Value         int64
	Lower, Upper  float64
	NoiseVariance float64
}

// Cell holds every measure of one partition.
type Cell struct {
	Partition
	Pupils              Estimate
	PossibleSessions    Estimate
	AuthorisedAbsence   Estimate
	UnauthorisedAbsence Estimate
	PersistentAbsentees Estimate
}

type cellAggregators struct {
	pupils, persistent             *dpagg.Count
	possible, authorised, unauthor *dpagg.BoundedSumInt64
	maxSessions                    int64
}

// Aggregator accumulates contributions for a fixed list of public partitions.
// It is not safe for concurrent use.
type Aggregator struct {
	opt Options
	// partitions and cells in the same order, sorted by public keys; index
	// finds a partition's position.
	partitions []Partition
	cells      []*cellAggregators
	index      map[Partition]int
	// reached is which partitions each pupil has contributed to.
	reached reached
	taken   bool
}

// New makes one dpagg aggregator per measure for every partition given,
// including those no pupil will reach: every public partition is published.
func New(partitions []Partition, opt Options) (*Aggregator, error) {
	if opt.MaxPartitions < 1 {
		return nil, fmt.Errorf("privacy: MaxPartitions must be at least 1, got %d", opt.MaxPartitions)
	}
	for _, m := range Measures {
		if e := opt.Epsilon[m]; !(e > 0) || math.IsInf(e, 0) {
			return nil, fmt.Errorf("privacy: epsilon for %s must be greater than 0, got %v", m, e)
		}
	}
	if opt.Noise == nil {
		opt.Noise = noise.Laplace()
	}
	for _, p := range partitions {
		maxSessions, ok := opt.MaxSessions[p.Term]
		if !ok || maxSessions < 1 {
			return nil, fmt.Errorf("privacy: no session bound for term %q", p.Term)
		}
	}
	a := &Aggregator{
		opt:        opt,
		partitions: append([]Partition(nil), partitions...),
		index:      make(map[Partition]int, len(partitions)),
		reached:    newReached(),
	}
	sort.Slice(a.partitions, func(i, j int) bool { return less(a.partitions[i], a.partitions[j]) })
	for i, p := range a.partitions {
		if _, dup := a.index[p]; dup {
			return nil, fmt.Errorf("privacy: partition %s listed twice", p)
		}
		a.index[p] = i
		c, err := a.newCell(opt.MaxSessions[p.Term])
		if err != nil {
			return nil, fmt.Errorf("privacy: partition %s: %w", p, err)
		}
		a.cells = append(a.cells, c)
	}
	return a, nil
}

func less(a, b Partition) bool {
	if a.School != b.School {
		return a.School < b.School
	}
	if a.Term != b.Term {
		return a.Term < b.Term
	}
	return a.Programme < b.Programme
}

func (a *Aggregator) newCell(maxSessions int64) (*cellAggregators, error) {
	count := func(m string) (*dpagg.Count, error) {
		return dpagg.NewCount(&dpagg.CountOptions{
			Epsilon: a.opt.Epsilon[m], MaxPartitionsContributed: a.opt.MaxPartitions, Noise: a.opt.Noise,
		})
	}
	sum := func(m string) (*dpagg.BoundedSumInt64, error) {
		return dpagg.NewBoundedSumInt64(&dpagg.BoundedSumInt64Options{
			Epsilon: a.opt.Epsilon[m], MaxPartitionsContributed: a.opt.MaxPartitions,
			Lower: 0, Upper: maxSessions, Noise: a.opt.Noise,
		})
	}
	c := cellAggregators{maxSessions: maxSessions}
	var err error
	if c.pupils, err = count(Pupils); err != nil {
		return nil, err
	}
	if c.persistent, err = count(PersistentAbsentees); err != nil {
		return nil, err
	}
	if c.possible, err = sum(PossibleSessions); err != nil {
		return nil, err
	}
	if c.authorised, err = sum(AuthorisedAbsence); err != nil {
		return nil, err
	}
	if c.unauthor, err = sum(UnauthorisedAbsence); err != nil {
		return nil, err
	}
	return &c, nil
}

// Add adds one pupil's contribution. It refuses a partition that is not
// public, a second contribution of a pupil to one partition, and a pupil's
// contribution past MaxPartitions: each would break the guarantee.
// Values are clamped to [0, the term's MaxSessions].
func (a *Aggregator) Add(c Contribution) error {
	if a.taken {
		return ErrResultsTaken
	}
	i, ok := a.index[c.Partition]
	if !ok {
		return fmt.Errorf("privacy: contribution to partition %s, which is not in the configured partitions", c.Partition)
	}
	return a.add(i, c)
}

// Index returns the position of public partition p, for AddAt.
func (a *Aggregator) Index(p Partition) (int, bool) {
	i, ok := a.index[p]
	return i, ok
}

// AddAt is Add for a contribution whose partition is at position i (from
// Index): a caller that adds many contributions to few partitions finds each
// partition's position once instead of hashing it every time. It refuses c
// when its partition is not the one at i.
func (a *Aggregator) AddAt(i int, c Contribution) error {
	if a.taken {
		return ErrResultsTaken
	}
	if i < 0 || i >= len(a.partitions) || a.partitions[i] != c.Partition {
		return fmt.Errorf("privacy: contribution to partition %s added at position %d, which holds another", c.Partition, i)
	}
	return a.add(i, c)
}

func (a *Aggregator) add(i int, c Contribution) error {
	pupil := a.reached.of(c.PupilKey)
	if a.reached.has(pupil, i) {
		return fmt.Errorf("privacy: a pupil contributed twice to partition %s; contributions must be pre-aggregated per pupil", c.Partition)
	}
	if int64(pupil.n) >= a.opt.MaxPartitions {
		return fmt.Errorf("privacy: a pupil contributed to more than %d partitions; bound contributions before aggregating", a.opt.MaxPartitions)
	}
	a.reached.reach(pupil, i)
	pupil.n++

	cell := a.cells[i]
	if err := cell.pupils.Increment(); err != nil {
		return err
	}
	if c.PersistentAbsentee {
		if err := cell.persistent.Increment(); err != nil {
			return err
		}
	}
	if err := cell.possible.Add(clamp(c.PossibleSessions, cell.maxSessions)); err != nil {
		return err
	}
	if err := cell.authorised.Add(clamp(c.AuthorisedAbsence, cell.maxSessions)); err != nil {
		return err
	}
	return cell.unauthor.Add(clamp(c.UnauthorisedAbsence, cell.maxSessions))
}

func clamp(v, upper int64) int64 {
	return max(0, min(v, upper))
}

// Results draws the noise for every partition, sorted by public keys. It may
// be called once: the noise it draws is spent whether or not it is published.
func (a *Aggregator) Results() ([]Cell, error) {
	if a.taken {
		return nil, ErrResultsTaken
	}
	a.taken = true
	out := make([]Cell, 0, len(a.partitions))
	for i, p := range a.partitions {
		agg := a.cells[i]
		cell := Cell{Partition: p}
		var err error
		if cell.Pupils, err = a.countEstimate(agg.pupils, Pupils); err != nil {
			return nil, err
		}
		if cell.PersistentAbsentees, err = a.countEstimate(agg.persistent, PersistentAbsentees); err != nil {
			return nil, err
		}
		if cell.PossibleSessions, err = a.sumEstimate(agg.possible, PossibleSessions, agg.maxSessions); err != nil {
			return nil, err
		}
		if cell.AuthorisedAbsence, err = a.sumEstimate(agg.authorised, AuthorisedAbsence, agg.maxSessions); err != nil {
			return nil, err
		}
		if cell.UnauthorisedAbsence, err = a.sumEstimate(agg.unauthor, UnauthorisedAbsence, agg.maxSessions); err != nil {
			return nil, err
		}
		out = append(out, cell)
	}
	return out, nil
}

func (a *Aggregator) countEstimate(c *dpagg.Count, measure string) (Estimate, error) {
	return estimate(c, measure, laplaceVariance(a.opt.Noise, a.opt.MaxPartitions, 1, a.opt.Epsilon[measure]))
}

func (a *Aggregator) sumEstimate(s *dpagg.BoundedSumInt64, measure string, maxSessions int64) (Estimate, error) {
	return estimate(s, measure, laplaceVariance(a.opt.Noise, a.opt.MaxPartitions, maxSessions, a.opt.Epsilon[measure]))
}

// noisyInt is a dpagg Count or BoundedSumInt64.
type noisyInt interface {
	Result() (int64, error)
	ComputeConfidenceInterval(alpha float64) (noise.ConfidenceInterval, error)
}

// estimate reads one noisy value with dpagg's confidence interval and the
// noise variance derived intervals need.
func estimate(agg noisyInt, measure string, variance float64) (Estimate, error) {
	v, err := agg.Result()
	if err != nil {
		return Estimate{}, fmt.Errorf("privacy: %s: %w", measure, err)
	}
	ci, err := agg.ComputeConfidenceInterval(Alpha)
	if err != nil {
		return Estimate{}, fmt.Errorf("privacy: %s interval: %w", measure, err)
	}
	return Estimate{Value: v, Lower: ci.LowerBound, Upper: ci.UpperBound, NoiseVariance: variance}, nil
}

// LaplaceScale returns the noise scale b of a measure for the given sensitivity,
// for documentation and tests.
func LaplaceScale(maxPartitions, lInf int64, epsilon float64) float64 {
	return float64(maxPartitions) * float64(lInf) / epsilon
}
