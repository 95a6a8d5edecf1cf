//go:build duckdb_arrow

package ingest

import (
	"context"
	"database/sql"
	"fmt"
	"runtime"
	"strings"
	"sync"

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
// distinct raw values (and, for UPNs, whether each needs a linkage token),
// fill appends each one's row with a pair of tokenisers (the trust's key and
// the linkage key) of its own.
type tokenTable struct {
	table, query string
	schema       *arrow.Schema
	fill         func(tok, link *pseudonym.Tokeniser, raw string, linked bool, out []*array.StringBuilder)
}

// tokenWorkers is how many goroutines tokenise a batch: the match keys of a
// trust's 50,000 roster and partner records are most of the stage's time.
var tokenWorkers = max(1, min(4, runtime.GOMAXPROCS(0)))

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
// Linkage tokens are made only for what linkage reads: the UPNs of roster
// and participation rows, not those seen only in attendance. When the roster
// and participation are kept (rosterKept), nothing of theirs was read, so
// only upn_tokens is built.
func tokenise(ctx context.Context, conn *sql.Conn, tok *pseudonym.Tokeniser, rosterKept bool) error {
	identifier := func(check func(*pseudonym.Tokeniser, string) (string, string)) func(*pseudonym.Tokeniser, *pseudonym.Tokeniser, string, bool, []*array.StringBuilder) {
		return func(tok, link *pseudonym.Tokeniser, raw string, linked bool, out []*array.StringBuilder) {
			status, token := check(tok, raw)
			linkToken := ""
			if linked {
				_, linkToken = check(link, raw)
			}
			out[0].Append(raw)
			out[1].Append(status)
			appendToken(out[2], token)
			appendToken(out[3], linkToken)
		}
	}
	tables := []tokenTable{
		{"upn_tokens", `SELECT upn, bool_or(linked) FROM (
				SELECT upn, true AS linked FROM raw_roster UNION ALL SELECT upn, true FROM raw_participation
				UNION ALL SELECT raw, false FROM attendance_dict WHERE col = 'upn')
			WHERE upn IS NOT NULL
			GROUP BY upn`, tokenSchema, identifier(linkage.UPNToken)},
	}
	if !rosterKept {
		tables = append(tables,
			tokenTable{"nhs_tokens", `SELECT DISTINCT nhs_number FROM (
				SELECT nhs_number FROM raw_roster UNION ALL SELECT nhs_number FROM raw_participation)
			WHERE nhs_number IS NOT NULL`, tokenSchema, identifier(linkage.NHSToken)},
			tokenTable{"demo_tokens", `SELECT DISTINCT demographics(forename, surname, date_of_birth, postcode, gender) FROM (
				SELECT forename, surname, date_of_birth, postcode, gender FROM raw_roster
				UNION ALL SELECT forename, surname, date_of_birth, postcode, gender FROM raw_participation)`,
				demographicSchema, func(_, link *pseudonym.Tokeniser, raw string, _ bool, out []*array.StringBuilder) {
					out[0].Append(raw)
					for i, token := range linkage.Tokens(link, splitDemographics(raw)) {
						appendToken(out[1+i], token)
					}
				}})
	}
	tokenisers := make([][2]*pseudonym.Tokeniser, tokenWorkers)
	for i := range tokenisers {
		own := tok.Clone()
		tokenisers[i] = [2]*pseudonym.Tokeniser{own, own.Linkage()}
	}
	return warehouse.WithArrow(conn, func(ar *duckdb.Arrow, dc *duckdb.Conn) error {
		for _, t := range tables {
			if err := tokeniseKind(ctx, ar, dc, t, tokenisers); err != nil {
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

func tokeniseKind(ctx context.Context, ar *duckdb.Arrow, dc *duckdb.Conn, t tokenTable, tokenisers [][2]*pseudonym.Tokeniser) error {
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
		// A second column says whether each value needs a linkage token;
		// without one, every value does.
		var linked *array.Boolean
		if in.NumCols() > 1 {
			if linked, ok = in.Column(1).(*array.Boolean); !ok {
				return fmt.Errorf("distinct identifiers' linkage flags arrived as %s", in.Column(1).DataType())
			}
		}
		// Each worker tokenises a contiguous share of the batch into a batch
		// of its own; the tables are lookups, so their order does not matter.
		n := values.Len()
		out := make([]arrow.RecordBatch, len(tokenisers))
		var wg sync.WaitGroup
		for w := range tokenisers {
			from, to := n*w/len(tokenisers), n*(w+1)/len(tokenisers)
			wg.Add(1)
			go func() {
				defer wg.Done()
				b := array.NewRecordBuilder(pool, t.schema)
				defer b.Release()
				cols := make([]*array.StringBuilder, len(t.schema.Fields()))
				for i := range cols {
					cols[i] = b.Field(i).(*array.StringBuilder)
				}
				for i := from; i < to; i++ {
					t.fill(tokenisers[w][0], tokenisers[w][1], values.Value(i), linked == nil || linked.Value(i), cols)
				}
				out[w] = b.NewRecordBatch()
			}()
		}
		wg.Wait()
		batches = append(batches, out...)
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
