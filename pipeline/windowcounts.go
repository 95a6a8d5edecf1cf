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
	var slots int
	if err := conn.QueryRowContext(ctx, "SELECT term_slots()").Scan(&slots); err != nil {
		return err
	}
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
			if err := pupil.AddTerm(term.first, slots, term.possible, term.attended); err != nil {
				return fmt.Errorf("a pupil's sessions in a term: %w", err)
			}
			if pupil.Sessions()-sessions != int(term.possibleN) || pupil.Attended()-attendedBefore != int(term.attendedN) {
				return fmt.Errorf("a pupil's term bitstrings hold %d sessions, %d attended; their counts say %d and %d",
					pupil.Sessions()-sessions, pupil.Attended()-attendedBefore, term.possibleN, term.attendedN)
			}
			term.set = false
			return nil
		}
		for reader.Next() {
			rec := reader.RecordBatch()
			keys, ok1 := rec.Column(0).(*array.Int64)
			starts, ok2 := rec.Column(1).(*array.Date32)
			possible, ok3 := rec.Column(2).(*array.Binary)
			attended, ok4 := rec.Column(3).(*array.Binary)
			possibleN, ok5 := rec.Column(4).(*array.Int64)
			attendedN, ok6 := rec.Column(5).(*array.Int64)
			if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) {
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
				if err := term.add(key, first, possible.Value(i), attended.Value(i), possibleN.Value(i), attendedN.Value(i)); err != nil {
					reader.Release()
					return err
				}
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

// pendingTerm is one pupil's term as read so far: a row per school it
// had that term, their bitstrings OR-ed and their counts added.
type pendingTerm struct {
	set                  bool
	key                  int64
	first                windows.HalfDay
	possible, attended   []byte
	possibleN, attendedN int64
}

// add copies a row into an empty term, or ORs it into the term's rows.
func (t *pendingTerm) add(key int64, first windows.HalfDay, possible, attended []byte, possibleN, attendedN int64) error {
	if !t.set {
		t.set, t.key, t.first = true, key, first
		t.possible, t.attended = append(t.possible[:0], possible...), append(t.attended[:0], attended...)
		t.possibleN, t.attendedN = possibleN, attendedN
		return nil
	}
	if len(possible) != len(t.possible) || len(attended) != len(t.attended) {
		return fmt.Errorf("a pupil's rows for one term have bitstrings of different lengths")
	}
	for i := range possible {
		t.possible[i] |= possible[i]
		t.attended[i] |= attended[i]
	}
	t.possibleN += possibleN
	t.attendedN += attendedN
	return nil
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
