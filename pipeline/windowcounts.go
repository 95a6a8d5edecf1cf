//go:build duckdb_arrow

package pipeline

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/duckdb/duckdb-go/v2"

	"github.com/outcomes/outcomes/pipeline/warehouse"
	"github.com/outcomes/outcomes/queries"
	"github.com/outcomes/outcomes/transforms/windows"
)

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
	// The counts are appended after the sessions' result is released: an
	// appender flushing on the connection would end a result still streaming.
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
				key := keys.Value(i)
				if started && key != current {
					measure(current)
					pupil.Reset()
				}
				current, started = key, true
				first := windows.Morning(int32(starts.Value(i)))
				sessions, attendedBefore := pupil.Sessions(), pupil.Attended()
				// Errors name no pupil, not even by surrogate key: they reach logs.
				if err := pupil.AddTerm(first, slots, possible.Value(i), attended.Value(i)); err != nil {
					reader.Release()
					return fmt.Errorf("a pupil's sessions in a term: %w", err)
				}
				if pupil.Sessions()-sessions != int(possibleN.Value(i)) || pupil.Attended()-attendedBefore != int(attendedN.Value(i)) {
					reader.Release()
					return fmt.Errorf("a pupil's term bitstrings hold %d sessions, %d attended; their counts say %d and %d",
						pupil.Sessions()-sessions, pupil.Attended()-attendedBefore, possibleN.Value(i), attendedN.Value(i))
				}
			}
		}
		err = reader.Err()
		reader.Release()
		if err != nil {
			return err
		}
		if started {
			measure(current)
		}
		pupil.Reset() // slot pupils with no possible session: windows of zero
		for key := range bySlotPupil {
			measure(key)
		}
		app, err := duckdb.NewAppender(dc, "temp", "main", "impact_window_counts")
		if err != nil {
			return err
		}
		for _, r := range out {
			if err := app.AppendRow(r.pupil, r.slot.programme, r.slot.participant, r.slot.period, r.w.PrePossible, r.w.PreAttended,
				r.w.PostPossible, r.w.PostAttended, r.w.BasePossible, r.w.BaseAbsent); err != nil {
				app.Close()
				return err
			}
		}
		return app.Close()
	})
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
