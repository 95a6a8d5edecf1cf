//go:build duckdb_arrow

package pipeline

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/duckdb/duckdb-go/v2"

	"github.com/outcomes/outcomes/pipeline/config"
	"github.com/outcomes/outcomes/pipeline/warehouse"
	"github.com/outcomes/outcomes/queries"
	"github.com/outcomes/outcomes/transforms/windows"
)

// windowCountsSchema is impact_window_counts' (buildImpactWindows).
var windowCountsSchema = func() *arrow.Schema {
	fields := []arrow.Field{
		{Name: "pupil_key", Type: arrow.PrimitiveTypes.Int64},
		{Name: "programme_idx", Type: arrow.PrimitiveTypes.Int32},
		{Name: "participant", Type: arrow.FixedWidthTypes.Boolean},
		{Name: "period_idx", Type: arrow.PrimitiveTypes.Int32},
	}
	for _, c := range []string{"pre_possible", "pre_attended", "post_possible", "post_attended", "base_possible", "base_absent"} {
		fields = append(fields, arrow.Field{Name: c, Type: arrow.PrimitiveTypes.Int64})
	}
	return arrow.NewSchema(fields, nil)
}()

// impactSlot is one row of impact_slots.
type impactSlot struct {
	programme, period int32
	participant       bool
	index             windows.HalfDay
}

// countWindows reads the slots, then streams the slot pupils' sessions in
// pupil order and appends each slot's window counts to
// impact_window_counts. A slot pupil with no possible session still gets
// a row (of zeros), which the minimum window size then drops.
func countWindows(ctx context.Context, conn *sql.Conn, windowSessions int) error {
	bySlotPupil, n, err := readSlots(ctx, conn)
	if err != nil {
		return err
	}
	// The counts are inserted after the sessions' result is released: a
	// statement on the connection would end a result still streaming.
	type countRow struct {
		pupil int64
		slot  impactSlot
		w     windows.Counts
	}
	out := make([]countRow, 0, n)
	var pupil windows.Pupil
	measure := func(key int64) {
		for _, s := range bySlotPupil[key] {
			out = append(out, countRow{key, s, pupil.Around(s.index, windowSessions)})
		}
		delete(bySlotPupil, key)
	}
	return warehouse.WithArrow(conn, func(ar *duckdb.Arrow, dc *duckdb.Conn) error {
		reader, err := ar.QueryContext(ctx, queries.Get("impact_sessions"))
		if err != nil {
			return err
		}
		current, started := int64(0), false
		pupil.Reset()
		var term pendingTerm
		// addTerm adds the term's rows, OR-ed, to the pupil. Errors name no
		// pupil, not even by surrogate key: they reach logs.
		addTerm := func() error {
			sessions, attendedBefore := pupil.Sessions(), pupil.Attended()
			if err := pupil.AddTerm(term.first, term.possible[:], term.attended[:]); err != nil {
				return fmt.Errorf("a pupil's sessions in a term: %w", err)
			}
			if pupil.Sessions()-sessions != int(term.possibleN) || pupil.Attended()-attendedBefore != int(term.attendedN) {
				return fmt.Errorf("a pupil's term words hold %d sessions, %d attended; their counts say %d and %d",
					pupil.Sessions()-sessions, pupil.Attended()-attendedBefore, term.possibleN, term.attendedN)
			}
			term.set = false
			return nil
		}
		var possible, attended [termWords]*array.Uint64
		for reader.Next() {
			rec := reader.RecordBatch()
			keys, ok1 := rec.Column(0).(*array.Int64)
			starts, ok2 := rec.Column(1).(*array.Date32)
			ok := ok1 && ok2 && rec.NumCols() == 4+2*termWords
			for k := 0; ok && k < termWords; k++ {
				var okP, okA bool
				possible[k], okP = rec.Column(2 + k).(*array.Uint64)
				attended[k], okA = rec.Column(2 + termWords + k).(*array.Uint64)
				ok = okP && okA
			}
			var possibleN, attendedN *array.Int64
			if ok {
				var ok5, ok6 bool
				possibleN, ok5 = rec.Column(2 + 2*termWords).(*array.Int64)
				attendedN, ok6 = rec.Column(3 + 2*termWords).(*array.Int64)
				ok = ok5 && ok6
			}
			if !ok {
				reader.Release()
				return fmt.Errorf("impact_sessions.sql arrived with schema %s", rec.Schema())
			}
			for i := 0; i < int(rec.NumRows()); i++ {
				key, first := keys.Value(i), windows.Morning(int32(starts.Value(i)))
				if term.set && (key != term.key || first != term.first) {
					if err := addTerm(); err != nil {
						reader.Release()
						return err
					}
				}
				if started && key != current {
					measure(current)
					pupil.Reset()
				}
				current, started = key, true
				var p, a [termWords]uint64
				for k := range termWords {
					p[k], a[k] = possible[k].Value(i), attended[k].Value(i)
				}
				term.add(key, first, p, a, possibleN.Value(i), attendedN.Value(i))
			}
		}
		err = reader.Err()
		reader.Release()
		if err != nil {
			return err
		}
		if term.set {
			if err := addTerm(); err != nil {
				return err
			}
		}
		if started {
			measure(current)
		}
		pupil.Reset() // slot pupils with no possible session: windows of zero
		for key := range bySlotPupil {
			measure(key)
		}
		// One Arrow batch in one statement, not the appender's call per
		// value: with 20,000 slots, inserting takes about 15 ms.
		b := array.NewRecordBuilder(memory.NewGoAllocator(), windowCountsSchema)
		defer b.Release()
		keys, programmes, participants, periods := b.Field(0).(*array.Int64Builder), b.Field(1).(*array.Int32Builder),
			b.Field(2).(*array.BooleanBuilder), b.Field(3).(*array.Int32Builder)
		counts := make([]*array.Int64Builder, 6)
		for i := range counts {
			counts[i] = b.Field(4 + i).(*array.Int64Builder)
		}
		for _, r := range out {
			keys.Append(r.pupil)
			programmes.Append(r.slot.programme)
			participants.Append(r.slot.participant)
			periods.Append(r.slot.period)
			for i, v := range []int64{r.w.PrePossible, r.w.PreAttended, r.w.PostPossible, r.w.PostAttended, r.w.BasePossible, r.w.BaseAbsent} {
				counts[i].Append(v)
			}
		}
		rec := b.NewRecordBatch()
		defer rec.Release()
		rows, err := array.NewRecordReader(windowCountsSchema, []arrow.RecordBatch{rec})
		if err != nil {
			return err
		}
		defer rows.Release()
		return warehouse.ReadArrow(ctx, ar, dc, rows, "impact_window_counts_arrow",
			"INSERT INTO impact_window_counts SELECT * FROM impact_window_counts_arrow")
	})
}

// termWords is how many words of half days pupil_terms keeps per term.
const termWords = config.TermWords

// pendingTerm is one pupil's term as read so far: a row per school it
// had that term, their words OR-ed and their counts added.
type pendingTerm struct {
	set                  bool
	key                  int64
	first                windows.HalfDay
	possible, attended   [termWords]uint64
	possibleN, attendedN int64
}

// add copies a row into an empty term, or ORs it into the term's rows.
func (t *pendingTerm) add(key int64, first windows.HalfDay, possible, attended [termWords]uint64, possibleN, attendedN int64) {
	if !t.set {
		t.set, t.key, t.first = true, key, first
		t.possible, t.attended = possible, attended
		t.possibleN, t.attendedN = possibleN, attendedN
		return
	}
	for k := range termWords {
		t.possible[k] |= possible[k]
		t.attended[k] |= attended[k]
	}
	t.possibleN += possibleN
	t.attendedN += attendedN
}

// readSlots reads impact_slots over Arrow, by pupil, and counts them.
func readSlots(ctx context.Context, conn *sql.Conn) (map[int64][]impactSlot, int, error) {
	bySlotPupil := map[int64][]impactSlot{}
	n := 0
	err := warehouse.WithArrow(conn, func(ar *duckdb.Arrow, _ *duckdb.Conn) error {
		reader, err := ar.QueryContext(ctx, "SELECT pupil_key, programme_idx, participant, period_idx, index_date FROM impact_slots")
		if err != nil {
			return err
		}
		defer reader.Release()
		for reader.Next() {
			rec := reader.RecordBatch()
			keys, ok1 := rec.Column(0).(*array.Int64)
			programmes, ok2 := rec.Column(1).(*array.Int32)
			participants, ok3 := rec.Column(2).(*array.Boolean)
			periods, ok4 := rec.Column(3).(*array.Int32)
			dates, ok5 := rec.Column(4).(*array.Date32)
			if !(ok1 && ok2 && ok3 && ok4 && ok5) {
				return fmt.Errorf("impact_slots arrived with schema %s", rec.Schema())
			}
			for i := 0; i < int(rec.NumRows()); i++ {
				s := impactSlot{programme: programmes.Value(i), participant: participants.Value(i), period: periods.Value(i),
					index: windows.Morning(int32(dates.Value(i)))}
				bySlotPupil[keys.Value(i)] = append(bySlotPupil[keys.Value(i)], s)
				n++
			}
		}
		return reader.Err()
	})
	return bySlotPupil, n, err
}
