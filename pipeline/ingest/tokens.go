//go:build duckdb_arrow

package ingest

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/duckdb/duckdb-go/v2"

	"github.com/outcomes/outcomes/pipeline/warehouse"
	"github.com/outcomes/outcomes/schemas"
	"github.com/outcomes/outcomes/transforms/pseudonym"
)

var tokenSchema = arrow.NewSchema([]arrow.Field{
	{Name: "raw", Type: arrow.BinaryTypes.String},
	{Name: "status", Type: arrow.BinaryTypes.String},
	{Name: "token", Type: arrow.BinaryTypes.String, Nullable: true},
}, nil)

// tokenise computes one token per distinct identifier value, not per row:
// DuckDB hands the distinct raw values to Go as Arrow batches, Go checks and
// tokenises each, and the tokens go back as an Arrow stream into the temp
// tables upn_tokens and nhs_tokens (raw, status, token). status is permanent,
// temporary or invalid for UPNs; valid or invalid for NHS numbers.
func tokenise(ctx context.Context, conn *sql.Conn, tok *pseudonym.Tokeniser) error {
	kinds := []struct {
		table, query string
		check        func(raw string) (status, token string)
	}{
		{"upn_tokens", `SELECT DISTINCT upn FROM (
				SELECT upn FROM raw_roster UNION ALL SELECT upn FROM raw_attendance UNION ALL SELECT upn FROM raw_participation)
			WHERE upn IS NOT NULL`,
			func(raw string) (string, string) {
				n := pseudonym.NormaliseUPN(raw)
				switch schemas.ClassifyUPN(n) {
				case schemas.UPNPermanent:
					return "permanent", tok.Token(pseudonym.UPN, n)
				case schemas.UPNTemporary:
					return "temporary", tok.Token(pseudonym.UPN, n)
				}
				return "invalid", ""
			}},
		{"nhs_tokens", `SELECT DISTINCT nhs_number FROM (
				SELECT nhs_number FROM raw_roster UNION ALL SELECT nhs_number FROM raw_participation)
			WHERE nhs_number IS NOT NULL`,
			func(raw string) (string, string) {
				n := pseudonym.NormaliseNHSNumber(raw)
				if schemas.ValidNHSNumber(n) {
					return "valid", tok.Token(pseudonym.NHSNumber, n)
				}
				return "invalid", ""
			}},
	}
	return warehouse.WithArrow(conn, func(ar *duckdb.Arrow, dc *duckdb.Conn) error {
		for _, k := range kinds {
			if err := tokeniseKind(ctx, ar, dc, k.table, k.query, k.check); err != nil {
				return fmt.Errorf("%s: %w", k.table, err)
			}
		}
		return nil
	})
}

func tokeniseKind(ctx context.Context, ar *duckdb.Arrow, dc *duckdb.Conn, table, query string, check func(string) (string, string)) error {
	reader, err := ar.QueryContext(ctx, query)
	if err != nil {
		return err
	}
	defer reader.Release()
	pool := memory.NewGoAllocator()
	var batches []arrow.RecordBatch
	defer func() {
		for _, b := range batches {
			b.Release()
		}
	}()
	for reader.Next() {
		in := reader.RecordBatch()
		values, ok := in.Column(0).(array.StringLike)
		if !ok {
			return fmt.Errorf("distinct identifiers arrived as %s, not strings", in.Column(0).DataType())
		}
		b := array.NewRecordBuilder(pool, tokenSchema)
		raws := b.Field(0).(*array.StringBuilder)
		statuses := b.Field(1).(*array.StringBuilder)
		tokens := b.Field(2).(*array.StringBuilder)
		for i := 0; i < values.Len(); i++ {
			raw := values.Value(i)
			status, token := check(raw)
			raws.Append(raw)
			statuses.Append(status)
			if token == "" {
				tokens.AppendNull()
			} else {
				tokens.Append(token)
			}
		}
		batches = append(batches, b.NewRecordBatch())
		b.Release()
	}
	if err := reader.Err(); err != nil {
		return err
	}
	out, err := array.NewRecordReader(tokenSchema, batches)
	if err != nil {
		return err
	}
	defer out.Release()
	view := table + "_arrow"
	release, err := ar.RegisterView(out, view)
	if err != nil {
		return err
	}
	defer release()
	// duckdb_arrow_scan registers the view in the database's catalog, where it
	// would outlive the stream it reads; drop it as soon as it is copied.
	defer dc.ExecContext(context.WithoutCancel(ctx), "DROP VIEW IF EXISTS "+view, nil)
	_, err = dc.ExecContext(ctx, fmt.Sprintf("CREATE OR REPLACE TEMP TABLE %s AS SELECT * FROM %s", table, view), nil)
	return err
}
