package windows

import (
	"testing"
	"time"
)

// morningOf is the AM half day of date d.
func morningOf(d time.Time) HalfDay { return Morning(int32(d.Unix() / 86400)) }

// bitstring is a bitstring of n bits with the given ones, laid out as DuckDB casts
// BIT to BLOB: big-endian, zeros padded at the front to whole bytes.
func bitstring(n int, ones ...int) []byte {
	b := make([]byte, (n+7)/8)
	pad := len(b)*8 - n
	for _, i := range ones {
		p := pad + i
		b[p/8] |= 1 << (7 - p%8)
	}
	return b
}

func TestAround(t *testing.T) {
	mon := morningOf(time.Date(2024, 9, 2, 0, 0, 0, 0, time.UTC))
	// One term of 12 half days (Monday to Saturday): possible sessions at
	// half days 0-5 and 8-11, attended all but 3 and 9. A second term
	// starting 10 days later: half days 0 and 1, attended.
	var p Pupil
	p.Reset()
	if err := p.AddTerm(mon, 12, bitstring(12, 0, 1, 2, 3, 4, 5, 8, 9, 10, 11), bitstring(12, 0, 1, 2, 4, 5, 8, 10, 11)); err != nil {
		t.Fatal(err)
	}
	if err := p.AddTerm(mon+20, 12, bitstring(12, 0, 1), bitstring(12, 0, 1)); err != nil {
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
		{"wrong length", func(p *Pupil) error { return p.AddTerm(mon, 12, []byte{1}, []byte{1}) }},
		{"bits in the padding", func(p *Pupil) error { return p.AddTerm(mon, 12, []byte{0x80, 0}, []byte{0, 0}) }},
		{"terms out of order", func(p *Pupil) error {
			if err := p.AddTerm(mon+20, 12, bitstring(12, 0), bitstring(12)); err != nil {
				return nil
			}
			return p.AddTerm(mon, 12, bitstring(12, 0), bitstring(12))
		}},
	} {
		var p Pupil
		p.Reset()
		if err := tc.do(&p); err == nil {
			t.Errorf("%s: accepted", tc.name)
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
	pb, ab := bitstring(slots, possible...), bitstring(slots, attended...)
	var p Pupil
	for b.Loop() {
		p.Reset()
		for term := 0; term < 3; term++ {
			if err := p.AddTerm(first+HalfDay(term*260), slots, pb, ab); err != nil {
				b.Fatal(err)
			}
		}
		_ = p.Around(first+100, 60)
		_ = p.Around(first+400, 60)
	}
}
