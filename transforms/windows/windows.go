// Package windows finds a pupil's attendance windows around an index date:
// the possible sessions closest before and after it, and the baseline before
// them. It works on one pupil's possible sessions in time order, so the
// cost is per pupil, not per ranking of every session against every index
// date (what queries/testdata/impact_windows_reference.sql does in SQL).
package windows

import (
	"fmt"
	"sort"
)

// HalfDay numbers half days: 2 x days since 1970-01-01, plus 1 for PM.
type HalfDay int64

// Morning is the AM half day of a date given as days since 1970-01-01, as
// DuckDB's DATE crosses Arrow (date32).
func Morning(epochDay int32) HalfDay { return HalfDay(2 * int64(epochDay)) }

// Pupil is one pupil's possible sessions in time order, each attended or
// not, with running counts of the attended ones.
type Pupil struct {
	at       []HalfDay
	attended []int32 // attended[i] is how many of sessions [0, i) were attended
}

// Reset empties p for the next pupil, keeping its memory.
func (p *Pupil) Reset() {
	p.at = p.at[:0]
	p.attended = append(p.attended[:0], 0)
}

// AddTerm adds a term's sessions: bit i of possible (a bitstring of slots
// bits, DuckDB's BIT cast to BLOB: big-endian, padded with zeros at the
// front to whole bytes) is the half day first + i; attended has the same
// layout. Terms must come in date order and not overlap.
func (p *Pupil) AddTerm(first HalfDay, slots int, possible, attended []byte) error {
	if len(p.attended) == 0 {
		p.attended = append(p.attended, 0)
	}
	if len(possible) != (slots+7)/8 || len(attended) != len(possible) {
		return fmt.Errorf("a term's bitstrings are %d and %d bytes, want %d for %d half days", len(possible), len(attended), (slots+7)/8, slots)
	}
	if n := len(p.at); n > 0 && p.at[n-1] >= first {
		return fmt.Errorf("terms out of order: a session at half day %d before a term starting at %d", p.at[n-1], first)
	}
	pad := len(possible)*8 - slots
	if pad > 0 && possible[0]>>(8-pad) != 0 {
		return fmt.Errorf("a term's bitstring has bits set in its padding")
	}
	for byteIdx, b := range possible {
		if b == 0 {
			continue
		}
		for bit := 7; bit >= 0; bit-- {
			if b&(1<<bit) == 0 {
				continue
			}
			i := byteIdx*8 + (7 - bit) - pad
			p.at = append(p.at, first+HalfDay(i))
			n := p.attended[len(p.attended)-1]
			if attended[byteIdx]&(1<<bit) != 0 {
				n++
			}
			p.attended = append(p.attended, n)
		}
	}
	return nil
}

// Sessions is how many possible sessions the pupil has.
func (p *Pupil) Sessions() int { return len(p.at) }

// Attended is how many of them were attended.
func (p *Pupil) Attended() int {
	if len(p.attended) == 0 {
		return 0
	}
	return int(p.attended[len(p.attended)-1])
}

// Counts are the sessions of a pupil's windows around one index date.
type Counts struct {
	PrePossible, PreAttended   int64 // the pre window
	PostPossible, PostAttended int64 // the post window
	BasePossible, BaseAbsent   int64 // the baseline: every session before the pre window
}

// Around finds the windows around index date day (its AM half day): the pre
// window is the n possible sessions closest before that day, the post window
// the n closest after it; sessions on the day itself are in neither. A side
// with fewer than n sessions holds what there is.
func (p *Pupil) Around(day HalfDay, n int) Counts {
	if len(p.at) == 0 {
		return Counts{}
	}
	before := sort.Search(len(p.at), func(i int) bool { return p.at[i] >= day })
	after := sort.Search(len(p.at), func(i int) bool { return p.at[i] >= day+2 })
	preStart := max(0, before-n)
	postEnd := min(len(p.at), after+n)
	a := p.attended
	return Counts{
		PrePossible:  int64(before - preStart),
		PreAttended:  int64(a[before] - a[preStart]),
		PostPossible: int64(postEnd - after),
		PostAttended: int64(a[postEnd] - a[after]),
		BasePossible: int64(preStart),
		BaseAbsent:   int64(preStart) - int64(a[preStart]),
	}
}
