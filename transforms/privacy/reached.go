package privacy

// reached records which partitions, by position, each pupil has
// contributed to, for the aggregators' bounding checks. A contribution costs
// one integer map lookup: maps of pupils per partition, keyed by the
// partition's strings, and a count per pupil, cost several (about half of
// Add's time on a trust's 144,000 contributions).
type reached struct {
	slots  map[int64]int32 // pupil -> index in pupils
	pupils []pupilReach
	links  []reachLink
}

// pupilReach is one pupil's record: contributions counted against
// MaxPartitions, and the latest partition reached (an index in links, -1
// for none).
type pupilReach struct {
	n, last int32
}

// reachLink is one partition a pupil reached, and the one reached before it
// (-1 for none).
type reachLink struct {
	position, prev int32
}

func newReached() reached {
	return reached{slots: map[int64]int32{}}
}

// of returns the pupil's record, new if the pupil has contributed nothing.
// The pointer is good until the next call to of.
func (r *reached) of(pupil int64) *pupilReach {
	slot, ok := r.slots[pupil]
	if !ok {
		slot = int32(len(r.pupils))
		r.slots[pupil] = slot
		r.pupils = append(r.pupils, pupilReach{last: -1})
	}
	return &r.pupils[slot]
}

// has reports whether p has reached the partition at position.
func (r *reached) has(p *pupilReach, position int) bool {
	for l := p.last; l >= 0; l = r.links[l].prev {
		if r.links[l].position == int32(position) {
			return true
		}
	}
	return false
}

// reach records that p reached the partition at position.
func (r *reached) reach(p *pupilReach, position int) {
	r.links = append(r.links, reachLink{position: int32(position), prev: p.last})
	p.last = int32(len(r.links) - 1)
}
