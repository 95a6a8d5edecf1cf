package ingest

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	"github.com/outcomes/outcomes/pipeline/config"
	"github.com/outcomes/outcomes/queries"
)

// TestDefaultDateParsingMatches keeps macros.sql's default parse_input_date
// equal to what defineDateParsing writes for ISO.
func TestDefaultDateParsingMatches(t *testing.T) {
	m := queries.Get("macros")
	i := strings.Index(m, "parse_input_date(file_id, t) AS")
	if i < 0 {
		t.Fatal("macros.sql defines no parse_input_date")
	}
	got := strings.Join(strings.Fields(strings.TrimSuffix(strings.TrimSpace(m[i+len("parse_input_date(file_id, t) AS"):]), ";")), " ")
	if want := dateExpr(config.DateISO, "t"); got != want {
		t.Errorf("macros.sql default\n%s\nwant\n%s", got, want)
	}
}

// TestDateFormats is the contract of each date_format, through DuckDB.
func TestDateFormats(t *testing.T) {
	conn, _, _ := setup(t)
	tests := []struct{ format, text, want string }{
		{"iso", "2024-09-02", "2024-09-02"},
		{"iso", "2024-9-2", "2024-09-02"},
		{"iso", "2024-09-02 00:00:00", "2024-09-02"},
		{"iso", "2024-09-02 08:45", "2024-09-02"},
		{"iso", "02/09/2024", ""},
		{"iso", "2024-02-30", ""},
		{"iso", "24-09-02", ""},
		{"iso", "0024-09-02", ""},
		{"iso", "2024-09-02T00:00", ""},
		{"dd/mm/yyyy", "02/09/2024", "2024-09-02"},
		{"dd/mm/yyyy", "2/9/2024", "2024-09-02"},
		{"dd/mm/yyyy", "02/09/2024 00:00", "2024-09-02"},
		{"dd/mm/yyyy", "31/09/2024", ""},
		{"dd/mm/yyyy", "02/09/24", ""},
		{"dd/mm/yyyy", "2024-09-02", ""},
		{"dd/mm/yyyy", "09/13/2024", ""},
		{"dd-mon-yyyy", "02-Sep-2024", "2024-09-02"},
		{"dd-mon-yyyy", "2-sep-2024", "2024-09-02"},
		{"dd-mon-yyyy", "02-SEP-2024 00:00:00", "2024-09-02"},
		{"dd-mon-yyyy", "02-Sept-2024", ""},
		{"dd-mon-yyyy", "02/09/2024", ""},
		{"dd-mon-yyyy", "2024-09-02", ""},
	}
	for _, tt := range tests {
		var got sql.NullString
		q := "SELECT strftime(" + strings.ReplaceAll(dateExpr(tt.format, "x"), "x", "$1") + ", '%Y-%m-%d')"
		if err := conn.QueryRowContext(context.Background(), q, tt.text).Scan(&got); err != nil {
			t.Fatalf("%s %q: %v", tt.format, tt.text, err)
		}
		if got.String != tt.want {
			t.Errorf("%s %q: got %q, want %q", tt.format, tt.text, got.String, tt.want)
		}
	}
}
