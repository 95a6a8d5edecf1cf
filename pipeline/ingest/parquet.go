package ingest

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/outcomes/outcomes/pipeline/config"
	"github.com/outcomes/outcomes/pipeline/warehouse"
)

// isParquet tells a Parquet extract from a CSV one by its extension.
func isParquet(path string) bool {
	return strings.EqualFold(filepath.Ext(path), ".parquet")
}

// parquetColumn is one column of a Parquet file.
type parquetColumn struct{ name, typ string }

// parquetColumns lists a Parquet file's columns and their types, from its
// footer: nothing is read but the schema.
func parquetColumns(ctx context.Context, conn *sql.Conn, path string) ([]parquetColumn, error) {
	rows, err := conn.QueryContext(ctx, "SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet("+warehouse.QuoteLiteral(path)+"))")
	if err != nil {
		return nil, plainDuckDBError(err)
	}
	defer rows.Close()
	var out []parquetColumn
	for rows.Next() {
		var c parquetColumn
		if err := rows.Scan(&c.name, &c.typ); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// parquetText is the SQL that reads a Parquet column as text, as a CSV field
// would be: every check then runs on the text, exactly as for CSV. A column
// typed DATE or TIMESTAMP holds an unambiguous date, so it is written in the
// source's date_format for the date check to read back.
func parquetText(col parquetColumn, dateFormat string) string {
	q := fmt.Sprintf("%q", col.name)
	switch t := strings.ToUpper(col.typ); {
	case t == "DATE" || strings.HasPrefix(t, "TIMESTAMP"):
		pattern := map[string]string{config.DateDMY: "%d/%m/%Y", config.DateDMonY: "%d-%b-%Y"}[dateFormat]
		if pattern == "" {
			pattern = "%Y-%m-%d"
		}
		return fmt.Sprintf("strftime(%s, '%s')", q, pattern)
	}
	return "CAST(" + q + " AS VARCHAR)"
}

// parquetSource is the table function that reads a Parquet extract.
func parquetSource(path string) string {
	return "read_parquet(" + warehouse.QuoteLiteral(path) + ")"
}
