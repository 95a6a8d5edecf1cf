//go:build duckdb_arrow

package ingest

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/duckdb/duckdb-go/v2"

	"github.com/outcomes/outcomes/pipeline/warehouse"
	"github.com/outcomes/outcomes/schemas"
	"github.com/outcomes/outcomes/transforms/linkage"
	"github.com/outcomes/outcomes/transforms/pseudonym"
)

var tokenSchema = arrow.NewSchema([]arrow.Field{
	{Name: "raw", Type: arrow.BinaryTypes.String},
	{Name: "status", Type: arrow.BinaryTypes.String},
	{Name: "token", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "link_token", Type: arrow.BinaryTypes.String, Nullable: true},
}, nil)

// demographicSchema is demo_tokens: a record's joined demographics (the
// demographics macro) and the token of each demographic match key.
var demographicSchema = func() *arrow.Schema {
	fields := []arrow.Field{{Name: "raw", Type: arrow.BinaryTypes.String}}
	for _, k := range linkage.DemographicKeys {
		fields = append(fields, arrow.Field{Name: schemas.TokenColumn(string(k)), Type: arrow.BinaryTypes.String, Nullable: true})
	}
	return arrow.NewSchema(fields, nil)
}()

// tokenTable is one table of tokens that tokenise builds: query gives the
// distinct raw values, fill appends each one's row.
type tokenTable struct {
	table, query string
	schema       *arrow.Schema
	fill         func(raw string, out []*array.StringBuilder)
}

// appendToken appends a token, or NULL for none.
func appendToken(b *array.StringBuilder, token string) {
	if token == "" {
		b.AppendNull()
	} else {
		b.Append(token)
	}
}

// tokenise computes tokens once per distinct identifying value, not per row:
// DuckDB hands the distinct raw values to Go as Arrow batches, Go checks and
// tokenises each, and the tokens go back as an Arrow stream into temp tables:
// upn_tokens and nhs_tokens (raw, status, token, link_token), where status is
// permanent, temporary or invalid for UPNs and valid or invalid for NHS
// numbers; and demo_tokens (raw, one token column per demographic match key),
// keyed by the demographics macro of name, date of birth, postcode and gender.
// token is made with the trust's key and kept in the warehouse; link_token and
// the match-key tokens with the linkage key partners share, and kept nowhere.
func tokenise(ctx context.Context, conn *sql.Conn, tok *pseudonym.Tokeniser) error {
	link := tok.Linkage()
	identifier := func(check func(*pseudonym.Tokeniser, string) (string, string)) func(string, []*array.StringBuilder) {
		return func(raw string, out []*array.StringBuilder) {
			status, token := check(tok, raw)
			_, linkToken := check(link, raw)
			out[0].Append(raw)
			out[1].Append(status)
			appendToken(out[2], token)
			appendToken(out[3], linkToken)
		}
	}
	tables := []tokenTable{
		{"upn_tokens", `SELECT DISTINCT upn FROM (
				SELECT upn FROM raw_roster UNION ALL SELECT upn FROM raw_participation
				UNION ALL SELECT raw FROM attendance_dict WHERE col = 'upn')
			WHERE upn IS NOT NULL`, tokenSchema, identifier(linkage.UPNToken)},
		{"nhs_tokens", `SELECT DISTINCT nhs_number FROM (
				SELECT nhs_number FROM raw_roster UNION ALL SELECT nhs_number FROM raw_participation)
			WHERE nhs_number IS NOT NULL`, tokenSchema, identifier(linkage.NHSToken)},
		{"demo_tokens", `SELECT DISTINCT demographics(forename, surname, date_of_birth, postcode, gender) FROM (
				SELECT forename, surname, date_of_birth, postcode, gender FROM raw_roster
				UNION ALL SELECT forename, surname, date_of_birth, postcode, gender FROM raw_participation)`,
			demographicSchema, func(raw string, out []*array.StringBuilder) {
				out[0].Append(raw)
				for i, token := range linkage.Tokens(link, splitDemographics(raw)) {
					appendToken(out[1+i], token)
				}
			}},
	}
	return warehouse.WithArrow(conn, func(ar *duckdb.Arrow, dc *duckdb.Conn) error {
		for _, t := range tables {
			if err := tokeniseKind(ctx, ar, dc, t); err != nil {
				return fmt.Errorf("%s: %w", t.table, err)
			}
		}
		return nil
	})
}

// splitDemographics undoes the demographics macro (fields joined by the unit
// separator, which no one can type into a field).
func splitDemographics(joined string) linkage.Demographics {
	f := strings.Split(joined, "\x1f")
	if len(f) != 5 {
		return linkage.Demographics{}
	}
	return linkage.Demographics{Forename: f[0], Surname: f[1], DateOfBirth: f[2], Postcode: f[3], Sex: f[4]}
}

func tokeniseKind(ctx context.Context, ar *duckdb.Arrow, dc *duckdb.Conn, t tokenTable) error {
	reader, err := ar.QueryContext(ctx, t.query)
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
		b := array.NewRecordBuilder(pool, t.schema)
		out := make([]*array.StringBuilder, len(t.schema.Fields()))
		for i := range out {
			out[i] = b.Field(i).(*array.StringBuilder)
		}
		for i := 0; i < values.Len(); i++ {
			t.fill(values.Value(i), out)
		}
		batches = append(batches, b.NewRecordBatch())
		b.Release()
	}
	if err := reader.Err(); err != nil {
		return err
	}
	out, err := array.NewRecordReader(t.schema, batches)
	if err != nil {
		return err
	}
	defer out.Release()
	return warehouse.ReadArrow(ctx, ar, dc, out, t.table+"_arrow",
		fmt.Sprintf("CREATE OR REPLACE TEMP TABLE %s AS SELECT * FROM %s_arrow", t.table, t.table))
}
