package ingest

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"
	"time"

	"github.com/outcomes/outcomes/pipeline/config"
	"github.com/outcomes/outcomes/schemas"
	"github.com/outcomes/outcomes/transforms/pseudonym"
)

// FuzzTokeniseFile: whatever a partner's file holds, TokeniseFile does not
// panic, and either refuses the file or writes one record per input record,
// each with the fixed columns, carrying no input field except the kept
// columns' expected values.
func FuzzTokeniseFile(f *testing.F) {
	head := strings.Join([]string{"programme", "nhs_number", "upn", "forename", "surname", "date_of_birth", "postcode", "gender", "event_date", "event", "attended"}, ",")
	f.Add(head + "\nmhst,9990000018,,Zoë,O'Brien,07/03/2015,S10 5DD,F,2024-10-01,session,Y\n")
	f.Add(head + "\r\nmhst,,,\"Smith, Jr\",Ann,2015-03-07,s105dd,2,01/10/2024,Session,y\r\n")
	f.Add(head + "\nSmith,9990000018,,,,,,,2015-03-07,S1 2AB,Olivia\n")
	f.Add("programme,event_date,event,attended\nmhst,2024-10-01,session,Y\n")
	f.Add("")
	f.Add("\xff\xfe" + head)
	tok, err := pseudonym.New(bytes.Repeat([]byte("k"), 32))
	if err != nil {
		f.Fatal(err)
	}
	rules := TokenRules{Programmes: []string{"mhst"}, Format: config.Format{},
		EventsFrom: time.Date(2023, 9, 1, 0, 0, 0, 0, time.UTC), EventsTo: time.Date(2026, 8, 31, 0, 0, 0, 0, time.UTC)}
	f.Fuzz(func(t *testing.T, in string) {
		var out bytes.Buffer
		sum, err := TokeniseFile(strings.NewReader(in), &out, "partner.csv", tok, rules)
		if err != nil {
			return
		}
		recs, err := csv.NewReader(&out).ReadAll()
		if err != nil {
			t.Fatalf("tokenised output is not CSV: %v", err)
		}
		if int64(len(recs)-1) != sum.Rows {
			t.Fatalf("%d records written, summary says %d", len(recs)-1, sum.Rows)
		}
		width := len(tokenisedKeep) + len(schemas.TokenisedColumns)
		for _, r := range recs[1:] {
			if len(r) != width {
				t.Fatalf("record of %d fields, want %d", len(r), width)
			}
			for i, v := range r[:len(tokenisedKeep)] {
				if v != "" && v != NotShown && rules.keep(tokenisedKeep[i], v) != v {
					t.Fatalf("%s carries %q, which the rules do not allow", tokenisedKeep[i], v)
				}
			}
			for _, v := range r[len(tokenisedKeep)+3:] {
				if v != "" && len(v) != 32 {
					t.Fatalf("token %q is not 32 hex digits", v)
				}
			}
		}
	})
}
