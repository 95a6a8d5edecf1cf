//go:build duckdb_arrow

package pipeline

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/duckdb/duckdb-go/v2"

	"github.com/outcomes/outcomes/pipeline/config"
	"github.com/outcomes/outcomes/pipeline/warehouse"
	"github.com/outcomes/outcomes/queries"
	"github.com/outcomes/outcomes/transforms/privacy"
)

// feedContributions streams the bounded per-pupil contributions from DuckDB
// to the DP aggregator as Arrow batches: Go touches each contribution once and
// no Go slice ever holds them all. Rows of a level the configuration does
// not publish are skipped; the rest all count against MaxPartitions.
func feedContributions(ctx context.Context, conn *sql.Conn, agg *privacy.Aggregator, keys partitionKeys, salt int64, maxProgrammes int, trustLevel, schoolLevel bool) (rows int64, err error) {
	err = warehouse.WithArrow(conn, func(ar *duckdb.Arrow, _ *duckdb.Conn) error {
		reader, err := ar.QueryContext(ctx, queries.Get("contributions"), salt, int64(maxProgrammes))
		if err != nil {
			return fmt.Errorf("contributions: %w", err)
		}
		defer reader.Release()
		cells := keys.cells(agg, trustLevel, schoolLevel)
		for reader.Next() {
			rec := reader.RecordBatch()
			pupil, ok1 := rec.Column(0).(*array.Int64)
			school, ok2 := rec.Column(1).(*array.Int32)
			term, ok3 := rec.Column(2).(*array.Int32)
			programme, ok4 := rec.Column(3).(*array.Int32)
			possible, ok5 := rec.Column(4).(*array.Int64)
			authorised, ok6 := rec.Column(5).(*array.Int64)
			unauthorised, ok7 := rec.Column(6).(*array.Int64)
			persistent, ok8 := rec.Column(7).(*array.Boolean)
			if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7 && ok8) {
				return fmt.Errorf("contributions arrived with schema %s", rec.Schema())
			}
			for i := 0; i < int(rec.NumRows()); i++ {
				k, err := keys.key(school.Value(i), term.Value(i), programme.Value(i))
				if err != nil {
					return err
				}
				cell := cells[k]
				if cell.skip {
					continue // a level this configuration does not publish
				}
				c := privacy.Contribution{
					Partition:           cell.partition,
					PupilKey:            pupil.Value(i),
					PossibleSessions:    possible.Value(i),
					AuthorisedAbsence:   authorised.Value(i),
					UnauthorisedAbsence: unauthorised.Value(i),
					PersistentAbsentee:  persistent.Value(i),
				}
				if cell.position < 0 {
					err = agg.Add(c) // not public: Add says so
				} else {
					err = agg.AddAt(cell.position, c)
				}
				if err != nil {
					return err
				}
				rows++
			}
		}
		return reader.Err()
	})
	return rows, err
}

// partitionKeys turns the integer keys of contributions.sql back into the
// configured public keys.
type partitionKeys struct {
	schools, terms, programmes []string
}

// key is the position of contributions.sql's integer keys in cells' table.
func (k partitionKeys) key(school, term, programme int32) (int, error) {
	if school < -1 || int(school) >= len(k.schools) || term < 0 || int(term) >= len(k.terms) ||
		programme < -1 || int(programme) >= len(k.programmes) {
		return 0, fmt.Errorf("contribution with keys (%d, %d, %d) outside the configured lists", school, term, programme)
	}
	return (int(school+1)*len(k.terms)+int(term))*(len(k.programmes)+1) + int(programme+1), nil
}

func (k partitionKeys) partition(school, term, programme int32) privacy.Partition {
	p := privacy.Partition{School: privacy.AllSchools, Term: k.terms[term], Programme: privacy.TotalProgramme}
	if school >= 0 {
		p.School = k.schools[school]
	}
	if programme >= 0 {
		p.Programme = k.programmes[programme]
	}
	return p
}

// keyedCell is what a contribution's keys lead to: its partition and that
// partition's position in the aggregator (-1 when it has none), or skip for
// a level the configuration does not publish.
type keyedCell struct {
	partition privacy.Partition
	position  int
	skip      bool
}

// cells finds, once per key, what key's contributions go to: a trust's year
// adds some 140,000 contributions to a few hundred partitions.
func (k partitionKeys) cells(agg *privacy.Aggregator, trustLevel, schoolLevel bool) []keyedCell {
	cells := make([]keyedCell, (len(k.schools)+1)*len(k.terms)*(len(k.programmes)+1))
	for school := int32(-1); int(school) < len(k.schools); school++ {
		for term := int32(0); int(term) < len(k.terms); term++ {
			for programme := int32(-1); int(programme) < len(k.programmes); programme++ {
				i, _ := k.key(school, term, programme)
				p := k.partition(school, term, programme)
				position, ok := agg.Index(p)
				if !ok {
					position = -1
				}
				cells[i] = keyedCell{partition: p, position: position,
					skip: (school < 0 && !trustLevel) || (school >= 0 && !schoolLevel)}
			}
		}
	}
	return cells
}

// feedImpact streams impact_contributions.sql into the aggregator as Arrow
// batches, as feedContributions does. Its rows name only the breakdown cells
// the configuration publishes (cfg_impact_breakdowns), so partitions come
// from configuration, never from the data.
func feedImpact(ctx context.Context, conn *sql.Conn, agg *privacy.ImpactAggregator, plan impactPlan, c *config.Config) error {
	return warehouse.WithArrow(conn, func(ar *duckdb.Arrow, _ *duckdb.Conn) error {
		reader, err := ar.QueryContext(ctx, queries.Get("impact_contributions"))
		if err != nil {
			return fmt.Errorf("impact contributions: %w", err)
		}
		defer reader.Release()
		// Each key's partition and position, found once: a trust's impact
		// table has some tens of thousands of records in a few hundred cells.
		targets := map[impactKey]impactTarget{}
		for reader.Next() {
			rec := reader.RecordBatch()
			pupil, ok1 := rec.Column(0).(*array.Int64)
			programme, ok2 := rec.Column(1).(*array.Int32)
			period, ok3 := rec.Column(2).(*array.Int32)
			cell, ok4 := rec.Column(3).(*array.Int32)
			participant, ok5 := rec.Column(4).(*array.Boolean)
			stratum, ok6 := rec.Column(5).(*array.Int32)
			change, ok7 := rec.Column(6).(*array.Int64)
			changeSq, ok8 := rec.Column(7).(*array.Int64)
			paChange, ok9 := rec.Column(8).(*array.Int64)
			if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7 && ok8 && ok9) {
				return fmt.Errorf("impact contributions arrived with schema %s", rec.Schema())
			}
			for i := 0; i < int(rec.NumRows()); i++ {
				key := impactKey{programme.Value(i), period.Value(i), cell.Value(i), participant.Value(i), stratum.Value(i)}
				target, seen := targets[key]
				if !seen {
					prog, per, bc := int(key.programme), int(key.period), int(key.cell)
					if prog < 0 || prog >= len(c.Programmes) || per < 0 || per >= len(plan.periods) || bc < 0 || bc >= len(plan.layout.Cells) {
						return fmt.Errorf("impact contribution with keys (%d, %d, %d) outside the configured lists", prog, per, bc)
					}
					target.partition = privacy.ImpactPartition{Programme: c.Programmes[prog].ID, Period: plan.periods[per].ID,
						Breakdown: plan.layout.Cells[bc].Key, Value: plan.layout.Cells[bc].Value,
						Comparison: !key.participant, Stratum: int(key.stratum)}
					var ok bool
					if target.position, ok = agg.Index(target.partition); !ok {
						target.position = -1
					}
					targets[key] = target
				}
				ic := privacy.ImpactContribution{ImpactPartition: target.partition,
					PupilKey: pupil.Value(i), ChangeBP: change.Value(i), ChangeSq: changeSq.Value(i), PAChange: paChange.Value(i),
				}
				var err error
				if target.position < 0 {
					err = agg.Add(ic) // not public: Add says so
				} else {
					err = agg.AddAt(target.position, ic)
				}
				if err != nil {
					return err
				}
			}
		}
		return reader.Err()
	})
}

// impactKey is impact_contributions.sql's integer keys of a record's cell.
type impactKey struct {
	programme, period, cell int32
	participant             bool
	stratum                 int32
}

// impactTarget is the partition an impactKey names and its position in the
// aggregator (-1 when it has none).
type impactTarget struct {
	partition privacy.ImpactPartition
	position  int
}
