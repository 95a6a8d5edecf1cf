// Package windows finds a pupil's attendance windows around an index date:
// the possible sessions closest before and after it, and the baseline before
// them. It works on one pupil's possible sessions in time order, so the
// cost is per pupil, not per ranking of every session against every index
// date (what queries/testdata/impact_windows_reference.sql does in SQL).
//
// The sessions stay as the summary stores them, 64 half days to a word, and
// the windows are counted with popcounts over words, not session by session.
package windows

import (
	"fmt"
	"math/bits"
	"sort"
)

// HalfDay numbers half days: 2 x days since 1970-01-01, plus 1 for PM.
type HalfDay int64

// Morning is the AM half day of a date given as days since 1970-01-01, as
// DuckDB's DATE crosses Arrow (date32).
func Morning(epochDay int32) HalfDay { return HalfDay(2 * int64(epochDay)) }

// word is 64 half days of a pupil's term, from first: bit 63 - i (most
// significant first) is half day first + i.
type word struct {
	first              HalfDay
	possible, attended uint64  // attended holds only possible half days
	last               HalfDay // the last possible session in the word
	before, attBefore  int     // possible and attended sessions in earlier words
}

// Pupil is one pupil's possible sessions in time order, each attended or
// not: the words that hold any, with running counts.
type Pupil struct {
	words              []word
	sessions, attended int
}

// Reset empties p for the next pupil, keeping its memory.
func (p *Pupil) Reset() {
	p.words = p.words[:0]
	p.sessions, p.attended = 0, 0
}

// AddTerm adds a term's sessions: half day first + 64k + i is a possible
// session when bit 63 - i of possible[k] is set, and attended when the same
// bit of attended[k] is (attended bits without a possible one are not
// sessions and are ignored). Terms must come in date order and not overlap.
func (p *Pupil) AddTerm(first HalfDay, possible, attended []uint64) error {
	if len(attended) != len(possible) {
		return fmt.Errorf("a term has %d possible and %d attended words", len(possible), len(attended))
	}
	for k, w := range possible {
		if w == 0 {
			continue
		}
		start := first + HalfDay(64*k)
		if n := len(p.words); n > 0 && p.words[n-1].last >= start+HalfDay(bits.LeadingZeros64(w)) {
			return fmt.Errorf("terms out of order: a session at half day %d before a term's session at %d", p.words[n-1].last, start+HalfDay(bits.LeadingZeros64(w)))
		}
		a := attended[k] & w
		p.words = append(p.words, word{first: start, possible: w, attended: a, last: start + 63 - HalfDay(bits.TrailingZeros64(w)),
			before: p.sessions, attBefore: p.attended})
		p.sessions += bits.OnesCount64(w)
		p.attended += bits.OnesCount64(a)
	}
	return nil
}

// Sessions is how many possible sessions the pupil has.
func (p *Pupil) Sessions() int { return p.sessions }

// Attended is how many of them were attended.
func (p *Pupil) Attended() int { return p.attended }

// top is a mask of a word's first m bits (the half days first to first + m - 1).
func top(m int) uint64 {
	switch {
	case m <= 0:
		return 0
	case m >= 64:
		return ^uint64(0)
	}
	return ^uint64(0) << (64 - m)
}

// sessionsBefore is how many possible sessions fall before half day h.
func (p *Pupil) sessionsBefore(h HalfDay) int {
	// Words hold sessions in order: the first word whose last session is at
	// or after h holds the first session not before h.
	i := sort.Search(len(p.words), func(i int) bool { return p.words[i].last >= h })
	if i == len(p.words) {
		return p.sessions
	}
	w := p.words[i]
	return w.before + bits.OnesCount64(w.possible&top(int(h-w.first)))
}

// attendedIn is how many of the first k possible sessions were attended.
func (p *Pupil) attendedIn(k int) int {
	if k >= p.sessions {
		return p.attended
	}
	// The word holding session k (counting from 0): the last word starting
	// at or before it.
	i := sort.Search(len(p.words), func(i int) bool { return p.words[i].before > k }) - 1
	w := p.words[i]
	// Clear the word's first k - before sessions; the next set bit is session k.
	rest := w.possible
	for j := k - w.before; j > 0; j-- {
		rest &^= 1 << (63 - bits.LeadingZeros64(rest))
	}
	m := bits.LeadingZeros64(rest) // session k is the word's bit m, from the top
	return w.attBefore + bits.OnesCount64(w.attended&top(m))
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
	if p.sessions == 0 {
		return Counts{}
	}
	before, after := p.sessionsBefore(day), p.sessionsBefore(day+2)
	preStart := max(0, before-n)
	postEnd := min(p.sessions, after+n)
	attPreStart, attBefore, attAfter, attPostEnd := p.attendedIn(preStart), p.attendedIn(before), p.attendedIn(after), p.attendedIn(postEnd)
	return Counts{
		PrePossible:  int64(before - preStart),
		PreAttended:  int64(attBefore - attPreStart),
		PostPossible: int64(postEnd - after),
		PostAttended: int64(attPostEnd - attAfter),
		BasePossible: int64(preStart),
		BaseAbsent:   int64(preStart - attPreStart),
	}
}
