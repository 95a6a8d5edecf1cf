//go:build duckdb_arrow

package ingest

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/outcomes/outcomes/transforms/csvcodes"
)

// The coded reader (codes.go, transforms/csvcodes) must give, for every file
// it calls regular, exactly the records DuckDB's read_csv gives with the
// options the general reader uses (csvSource): the same values, empty fields
// as NULL, no rejected rows, and each record on line rowid + 2. A file it
// calls irregular goes to that reader instead, so only the regular ones need
// the comparison. FuzzCodesMatchDuckDB checks any input; these seeds run on
// every go test.
var codeSeeds = []string{
	// Regular.
	"900001,M373200100000,2024-09-02,AM,/\n900001,M373200100000,2024-09-02,PM,\\\n",
	"\"900001\",\"M37\",\"2024-09-02\",\"AM\",\"/\"\n",
	"900001,,2024-09-02,,\n,,,,\n",
	"\"\",\"\",x,\"\",\"\"\n",
	" 900001 , M37 ,2024-09-02 , am ,/ \n",
	"\"a, b\",\"c,d\",e,f,g\n",
	"900001,José,Zoë,ß,€\n",
	"900001,M37,2024-09-02,AM,/",
	"\t,\v,\f, ,\u00a0\n",
	"'x',`y`,\\n,#c,--\n",
	// Not regular: CRLF rows under an LF header, a blank line, a short
	// record, doubled quotes, a quoted line break, CR line endings, LF and
	// CRLF rows, a stray quote, LF rows and a last line ending in a bare CR.
	"900001,M373200100000,2024-09-02,AM,/\r\n900002,A1,2024-09-03,PM,N\r\n",
	"900001,M37,2024-09-02,AM,/\n\n900001,M37,2024-09-03,AM,/\n",
	"900001,M37,2024-09-02,AM\n",
	"900001,\"M\"\"37\",2024-09-02,AM,/\n",
	"900001,\"M37\nX\",2024-09-02,AM,/\n",
	"900001,M37,2024-09-02,AM,/\r900001,M38,2024-09-02,AM,/\r",
	"900001,M37,2024-09-02,AM,/\n900001,M37,2024-09-02,AM,/\r\n",
	"900001,M\"37,2024-09-02,AM,/\n",
	"900001,M37,2024-09-02,AM,/\n900001,M37,2024-09-03,AM,/\r",
}

// regularSeeds is how many of codeSeeds, from the first, are regular: the
// rest are not, and go to the general reader.
const regularSeeds = 10

func TestCodesMatchDuckDB(t *testing.T) {
	for i, body := range codeSeeds {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			for _, parts := range []bool{false, true} {
				if regular := compareInParts(t, body, parts); regular != (i < regularSeeds) {
					t.Errorf("regular = %v for %q (in two parts: %v)", regular, body, parts)
				}
			}
		})
	}
}

// TestCodesInTwoParts: a file long enough to be read in two parts (here with
// parts of any size) comes out as read_csv reads it, its second part's lines
// numbered on from the first's; a line break inside quotes at the split
// leaves the whole file to the general reader.
func TestCodesInTwoParts(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 200; i++ {
		fmt.Fprintf(&b, "9000%02d,A%012d,2024-09-%02d,%s,%s\n", i%20, i%37, 2+i%20, []string{"AM", "PM"}[i%2], []string{"/", "\\", "N"}[i%3])
	}
	regular := b.String()
	if !compareInParts(t, regular, true) {
		t.Errorf("a regular file read in two parts was called irregular")
	}
	// The second part's codes start at PartCodes: the file was split.
	conn, err := fuzzDB()
	if err != nil {
		t.Fatal(err)
	}
	var top int64
	if err := conn.QueryRowContext(context.Background(), "SELECT max(id) FROM attendance_dict").Scan(&top); err != nil || top <= csvcodes.PartCodes {
		t.Errorf("highest code %d (%v): the file was not read in two parts", top, err)
	}
	mid := strings.Index(regular[len(regular)/2:], "\n") + len(regular)/2 + 1
	broken := regular[:mid] + "900001,\"A\nB\",2024-09-02,AM,/\n" + regular[mid:]
	if compareInParts(t, broken, true) {
		t.Errorf("a quoted line break near the split was called regular")
	}
}

func FuzzCodesMatchDuckDB(f *testing.F) {
	for _, s := range codeSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		compareInParts(t, body, false)
		compareInParts(t, body, true)
	})
}

// compareInParts is compareWithDuckDB with the file read whole or, when
// parts is set, split in two at its middle however small it is.
func compareInParts(t *testing.T, body string, parts bool) bool {
	if parts {
		saved := partSize
		partSize = 1
		defer func() { partSize = saved }()
	}
	return compareWithDuckDB(t, body)
}

// compareWithDuckDB writes a file with a five-column header and body, and
// compares the coded reader's records with read_csv's when it calls the
// file regular.
func compareWithDuckDB(t *testing.T, body string) (regular bool) {
	conn, err := fuzzDB()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var reason string
	if _, err := conn.ExecContext(ctx, AttendanceCodeTables); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "a.csv")
	if err := os.WriteFile(path, []byte("c0,c1,c2,c3,c4\n"+body), 0o600); err != nil {
		t.Fatal(err)
	}
	regular, reason, err = codeRegularCSV(ctx, conn, path, 5, []int{0, 1, 2, 3, 4}, 1)
	if err != nil {
		t.Fatal(err)
	}
	coded := records(t, conn, `SELECT c.line, s.raw, u.raw, d.raw, se.raw, m.raw FROM attendance_codes c
		JOIN attendance_session_marks sm ON sm.file_id = c.file_id AND sm.id = c.session_mark
		JOIN attendance_dict s ON s.col = 'school_urn' AND s.id = sm.school_urn
		JOIN attendance_dict u ON u.col = 'upn' AND u.id = c.upn
		JOIN attendance_dict d ON d.col = 'session_date' AND d.id = sm.session_date
		JOIN attendance_dict se ON se.col = 'session' AND se.id = sm.session
		JOIN attendance_dict m ON m.col = 'mark' AND m.id = sm.mark
		ORDER BY c.line`)
	if !regular {
		var left int64
		if err := conn.QueryRowContext(ctx, "SELECT (SELECT count(*) FROM attendance_codes) + (SELECT count(*) FROM attendance_session_marks)").Scan(&left); err != nil || left > 0 {
			t.Errorf("irregular (%s), yet %d records or session marks were left coded (%v)", reason, left, err)
		}
		return false
	}
	// Each session mark is numbered once: no two numbers of a file have the
	// same codes.
	var repeated int64
	if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT 1 FROM attendance_session_marks
		GROUP BY file_id, school_urn, session_date, session, mark HAVING count(*) > 1)`).Scan(&repeated); err != nil || repeated > 0 {
		t.Errorf("%d session marks numbered more than once (%v)", repeated, err)
	}
	var n int64
	if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM attendance_codes").Scan(&n); err != nil || n != int64(len(coded)) {
		t.Fatalf("%d coded records, %d with every code in the dictionary (%v)", n, len(coded), err)
	}
	// Rejects tables are appended to across reads: each comparison starts
	// with none.
	if _, err := conn.ExecContext(ctx, "DROP TABLE IF EXISTS fuzz_rejects; DROP TABLE IF EXISTS fuzz_scans"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("CREATE OR REPLACE TEMP TABLE fuzz_read AS SELECT * FROM %s",
		csvSource(path, 5, "fuzz_rejects", "fuzz_scans"))); err != nil {
		t.Fatalf("the coded reader read the file, DuckDB refused it: %v", err)
	}
	read := records(t, conn, "SELECT rowid + 2 AS line, c0, c1, c2, c3, c4 FROM fuzz_read ORDER BY line")
	rejected := records(t, conn, "SELECT line, error_type FROM fuzz_rejects")
	if len(rejected) > 0 {
		t.Errorf("DuckDB rejected %q of a file the coded reader called regular", rejected)
	}
	if !reflect.DeepEqual(coded, read) {
		t.Errorf("coded reader and read_csv differ on %q:\ncoded %q\nread  %q", body, coded, read)
	}
	return true
}

// records returns a query's rows as text, one string per row, NULL as <nil>.
func records(t *testing.T, conn *sql.Conn, q string) []string {
	t.Helper()
	rows, err := conn.QueryContext(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for i, v := range vals {
			if i > 0 {
				b.WriteString("|")
			}
			if v == nil {
				b.WriteString("<nil>")
			} else {
				fmt.Fprint(&b, v)
			}
		}
		out = append(out, b.String())
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
