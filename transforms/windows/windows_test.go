package windows

import (
	"math/rand/v2"
	"sort"
	"testing"
	"time"
)

// morningOf is the AM half day of date d.
func morningOf(d time.Time) HalfDay { return Morning(int32(d.Unix() / 86400)) }

// words are a term's six words with the given half days set, laid out as
// pupil_terms stores them: half day i is bit 63 - i % 64 of word i / 64.
func words(ones ...int) []uint64 {
	w := make([]uint64, 6)
	for _, i := range ones {
		w[i/64] |= 1 << (63 - i%64)
	}
	return w
}

func TestAround(t *testing.T) {
	mon := morningOf(time.Date(2024, 9, 2, 0, 0, 0, 0, time.UTC))
	// One term of 12 half days (Monday to Saturday): possible sessions at
	// half days 0-5 and 8-11, attended all but 3 and 9. A second term
	// starting 10 days later: half days 0 and 1, attended.
	var p Pupil
	p.Reset()
	if err := p.AddTerm(mon, words(0, 1, 2, 3, 4, 5, 8, 9, 10, 11), words(0, 1, 2, 4, 5, 8, 10, 11)); err != nil {
		t.Fatal(err)
	}
	if err := p.AddTerm(mon+20, words(0, 1), words(0, 1)); err != nil {
		t.Fatal(err)
	}
	if p.Sessions() != 12 {
		t.Fatalf("%d sessions, want 12", p.Sessions())
	}
	for _, tc := range []struct {
		name string
		day  HalfDay
		n    int
		want Counts
	}{
		// Index Wednesday (half days 4, 5 excluded): before 0-3, after 8-11 then the next term.
		{"middle, window 2", mon + 4, 2, Counts{PrePossible: 2, PreAttended: 1, PostPossible: 2, PostAttended: 1, BasePossible: 2, BaseAbsent: 0}},
		{"middle, window 10", mon + 4, 10, Counts{PrePossible: 4, PreAttended: 3, PostPossible: 6, PostAttended: 5}},
		// Index Friday: its own half days 8 and 9 are in neither window.
		{"sessions on the day", mon + 8, 3, Counts{PrePossible: 3, PreAttended: 2, PostPossible: 3, PostAttended: 3, BasePossible: 3}},
		// Index Thursday, a day with no sessions.
		{"no sessions on the day", mon + 6, 3, Counts{PrePossible: 3, PreAttended: 2, PostPossible: 3, PostAttended: 2, BasePossible: 3}},
		{"before everything", mon - 2, 3, Counts{PostPossible: 3, PostAttended: 3}},
		{"the first day", mon, 3, Counts{PostPossible: 3, PostAttended: 2}},
		{"after everything", mon + 40, 3, Counts{PrePossible: 3, PreAttended: 3, BasePossible: 9, BaseAbsent: 2}},
		{"in the holiday", mon + 14, 1, Counts{PrePossible: 1, PreAttended: 1, PostPossible: 1, PostAttended: 1, BasePossible: 9, BaseAbsent: 2}},
	} {
		if got := p.Around(tc.day, tc.n); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
	p.Reset()
	if got := p.Around(mon, 3); got != (Counts{}) {
		t.Errorf("no sessions: %+v, want zeros", got)
	}
}

func TestAddTermRefuses(t *testing.T) {
	mon := morningOf(time.Date(2024, 9, 2, 0, 0, 0, 0, time.UTC))
	for _, tc := range []struct {
		name string
		do   func(p *Pupil) error
	}{
		{"words of different lengths", func(p *Pupil) error { return p.AddTerm(mon, words(0), []uint64{0}) }},
		{"terms out of order", func(p *Pupil) error {
			if err := p.AddTerm(mon+20, words(0), words()); err != nil {
				return nil
			}
			return p.AddTerm(mon, words(0), words())
		}},
		// A term whose last word reaches past the next term's start is fine
		// (words are 64 half days, terms end where they end), but a session
		// at or before the previous term's last is not.
		{"terms overlapping", func(p *Pupil) error {
			if err := p.AddTerm(mon, words(10, 70), words()); err != nil {
				return nil
			}
			return p.AddTerm(mon+60, words(10), words())
		}},
	} {
		var p Pupil
		p.Reset()
		if err := tc.do(&p); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
}

// TestAroundMatchesSessionBySession: random pupils of up to three terms,
// whose words may reach past the next term's start, against windows counted
// session by session over the same sessions listed in order.
func TestAroundMatchesSessionBySession(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	mon := morningOf(time.Date(2024, 9, 2, 0, 0, 0, 0, time.UTC))
	for trial := 0; trial < 2000; trial++ {
		var p Pupil
		p.Reset()
		type session struct {
			at       HalfDay
			attended bool
		}
		var all []session
		start := mon + HalfDay(rng.IntN(10))
		terms := rng.IntN(4) // up to three terms
		for range terms {
			span := 1 + rng.IntN(384) // half days in the term
			density := rng.Float64()
			var possible, attended []int
			for i := 0; i < span; i++ {
				if rng.Float64() < density {
					possible = append(possible, i)
					att := rng.IntN(10) != 0
					if att {
						attended = append(attended, i)
					}
					all = append(all, session{start + HalfDay(i), att})
				}
			}
			if err := p.AddTerm(start, words(possible...), words(attended...)); err != nil {
				t.Fatal(err)
			}
			start += HalfDay(span + rng.IntN(20)) // the next term may start at once
		}
		if p.Sessions() != len(all) {
			t.Fatalf("trial %d: %d sessions, want %d", trial, p.Sessions(), len(all))
		}
		attendedIn := func(k int) int64 { // of the first k sessions
			n := int64(0)
			for _, s := range all[:k] {
				if s.attended {
					n++
				}
			}
			return n
		}
		for probe := 0; probe < 20; probe++ {
			day := mon + HalfDay(2*rng.IntN(int(start-mon)/2+10)) - 4
			n := 1 + rng.IntN(80)
			before := sort.Search(len(all), func(i int) bool { return all[i].at >= day })
			after := sort.Search(len(all), func(i int) bool { return all[i].at >= day+2 })
			preStart, postEnd := max(0, before-n), min(len(all), after+n)
			want := Counts{
				PrePossible: int64(before - preStart), PreAttended: attendedIn(before) - attendedIn(preStart),
				PostPossible: int64(postEnd - after), PostAttended: attendedIn(postEnd) - attendedIn(after),
				BasePossible: int64(preStart), BaseAbsent: int64(preStart) - attendedIn(preStart),
			}
			if got := p.Around(day, n); got != want {
				t.Fatalf("trial %d, day %d, n %d: %+v, want %+v", trial, day-mon, n, got, want)
			}
		}
	}
}

// BenchmarkPupil is one pupil's year as the impact stage meets it: three
// terms of 240 half days with school on weekdays (about 400 possible
// sessions, nine in ten attended), then the windows around two index dates.
func BenchmarkPupil(b *testing.B) {
	const slots = 240
	first := morningOf(time.Date(2024, 9, 2, 0, 0, 0, 0, time.UTC))
	var possible, attended []int
	for i := 0; i < slots; i++ {
		if day := i / 2; day%7 < 5 && day < 65 {
			possible = append(possible, i)
			if i%10 != 3 {
				attended = append(attended, i)
			}
		}
	}
	pw, aw := words(possible...), words(attended...)
	var p Pupil
	for b.Loop() {
		p.Reset()
		for term := 0; term < 3; term++ {
			if err := p.AddTerm(first+HalfDay(term*260), pw, aw); err != nil {
				b.Fatal(err)
			}
		}
		_ = p.Around(first+100, 60)
		_ = p.Around(first+400, 60)
	}
}
