//go:build duckdb_arrow

package pipeline

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/duckdb/duckdb-go/v2"

	"github.com/outcomes/outcomes/queries"
	"github.com/outcomes/outcomes/transforms/privacy"
)

// feedContributions streams the bounded per-pupil contributions from DuckDB
// to the DP aggregator as Arrow batches: Go touches each contribution once and
// no Go slice ever holds them all.
func feedContributions(ctx context.Context, conn *sql.Conn, agg *privacy.Aggregator, salt int64, maxProgrammes int) (rows int64, err error) {
	err = conn.Raw(func(driverConn any) error {
		dc, ok := driverConn.(*duckdb.Conn)
		if !ok {
			return fmt.Errorf("not a DuckDB connection")
		}
		ar, err := duckdb.NewArrowFromConn(dc)
		if err != nil {
			return err
		}
		reader, err := ar.QueryContext(ctx, queries.Get("contributions"), salt, int64(maxProgrammes))
		if err != nil {
			return fmt.Errorf("contributions: %w", err)
		}
		defer reader.Release()
		for reader.Next() {
			rec := reader.RecordBatch()
			pupil, ok1 := rec.Column(0).(*array.Int64)
			school, ok2 := rec.Column(1).(array.StringLike)
			term, ok3 := rec.Column(2).(array.StringLike)
			programme, ok4 := rec.Column(3).(array.StringLike)
			possible, ok5 := rec.Column(4).(*array.Int64)
			authorised, ok6 := rec.Column(5).(*array.Int64)
			unauthorised, ok7 := rec.Column(6).(*array.Int64)
			persistent, ok8 := rec.Column(7).(*array.Boolean)
			if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7 && ok8) {
				return fmt.Errorf("contributions arrived with schema %s", rec.Schema())
			}
			for i := 0; i < int(rec.NumRows()); i++ {
				c := privacy.Contribution{
					Partition:           privacy.Partition{School: school.Value(i), Term: term.Value(i), Programme: programme.Value(i)},
					PupilKey:            pupil.Value(i),
					PossibleSessions:    possible.Value(i),
					AuthorisedAbsence:   authorised.Value(i),
					UnauthorisedAbsence: unauthorised.Value(i),
					PersistentAbsentee:  persistent.Value(i),
				}
				if err := agg.Add(c); err != nil {
					return err
				}
				rows++
			}
		}
		return reader.Err()
	})
	return rows, err
}
