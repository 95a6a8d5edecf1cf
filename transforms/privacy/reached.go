package privacy

// reached records which partitions, by position, each pupil has
// contributed to, for the aggregators' bounding checks. A contribution costs
// one integer map lookup and a scan of the pupil's few positions, which lie
// together in memory: maps of pupils per partition, keyed by the
// partition's strings, and a count per pupil took half of Add's time on a
// trust's 144,000 contributions, and positions linked across one long list
// missed the cache at almost every step.
type reached struct {
	slots  map[int64]int32 // pupil -> index in pupils
	pupils []pupilReach
	arena  []int32 // where pupils' first reachHint positions are kept
}

// pupilReach is one pupil's record: contributions counted against
// MaxPartitions, and the positions of the partitions reached.
type pupilReach struct {
	n         int32
	positions []int32
}

// reachHint is the positions each pupil's record holds before it grows: a
// trust's pupil reaches 12 attendance cells (2 levels x 3 terms x 2).
const reachHint = 16

func newReached() reached {
	return reached{slots: map[int64]int32{}}
}

// of returns the pupil's record, new if the pupil has contributed nothing.
// The pointer is good until the next call to of.
func (r *reached) of(pupil int64) *pupilReach {
	slot, ok := r.slots[pupil]
	if !ok {
		if len(r.arena)+reachHint > cap(r.arena) {
			r.arena = make([]int32, 0, 1024*reachHint)
		}
		start := len(r.arena)
		r.arena = r.arena[:start+reachHint]
		slot = int32(len(r.pupils))
		r.slots[pupil] = slot
		r.pupils = append(r.pupils, pupilReach{positions: r.arena[start : start : start+reachHint]})
	}
	return &r.pupils[slot]
}

// has reports whether p has reached the partition at position.
func (r *reached) has(p *pupilReach, position int) bool {
	for _, q := range p.positions {
		if q == int32(position) {
			return true
		}
	}
	return false
}

// reach records that p reached the partition at position.
func (r *reached) reach(p *pupilReach, position int) {
	p.positions = append(p.positions, int32(position))
}
