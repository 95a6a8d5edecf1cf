package publish

import (
	"encoding/csv"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"

	"github.com/outcomes/outcomes/schemas"
)

// column describes one field of a row type from its struct tags.
type column struct {
	index             int
	name, kind, label string
	unit              string
	dp                int
	pointer, isFloat  bool
}

func columnsOf(t reflect.Type) []column {
	var cols []column
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("parquet"), ",")
		if name == "-" {
			continue
		}
		dp, _ := strconv.Atoi(f.Tag.Get("dp"))
		ft := f.Type
		c := column{index: i, name: name, kind: f.Tag.Get("ees"), label: f.Tag.Get("label"), unit: f.Tag.Get("unit"), dp: dp}
		if ft.Kind() == reflect.Pointer {
			c.pointer = true
			ft = ft.Elem()
		}
		c.isFloat = ft.Kind() == reflect.Float64
		cols = append(cols, c)
	}
	return cols
}

// neutralise stops a spreadsheet from reading a text cell as a formula.
func neutralise(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// WriteCSV writes rows as a tidy EES CSV: header of column names, GSS symbols
// for values not published ("c" suppressed, "z" not applicable).
func WriteCSV[T any](w io.Writer, rows []T, suppressed func(T) bool) error {
	cols := columnsOf(reflect.TypeFor[T]())
	cw := csv.NewWriter(w)
	header := make([]string, len(cols))
	for i, c := range cols {
		header[i] = c.name
	}
	if err := cw.Write(header); err != nil {
		return err
	}
	record := make([]string, len(cols))
	for _, row := range rows {
		v := reflect.ValueOf(row)
		for i, c := range cols {
			f := v.Field(c.index)
			switch {
			case c.pointer && f.IsNil():
				if suppressed(row) {
					record[i] = schemas.SymbolSuppressed
				} else {
					record[i] = schemas.SymbolNotApplicable
				}
			case c.pointer && c.isFloat:
				record[i] = strconv.FormatFloat(f.Elem().Float(), 'f', c.dp, 64)
			case c.pointer:
				record[i] = strconv.FormatInt(f.Elem().Int(), 10)
			case f.Kind() == reflect.Bool:
				record[i] = strconv.FormatBool(f.Bool())
			default:
				record[i] = neutralise(f.String())
			}
		}
		if err := cw.Write(record); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteMetaCSV writes the EES metadata file describing each filter and
// indicator; the mandatory time and geography columns are not listed, as the
// EES screener expects.
func WriteMetaCSV[T any](w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"col_name", "col_type", "label", "indicator_grouping", "indicator_unit", "indicator_dp", "filter_hint", "filter_grouping_column"}); err != nil {
		return err
	}
	for _, c := range columnsOf(reflect.TypeFor[T]()) {
		switch c.kind {
		case "filter":
			if err := cw.Write([]string{c.name, "Filter", c.label, "", "", "", "", ""}); err != nil {
				return err
			}
		case "indicator":
			if err := cw.Write([]string{c.name, "Indicator", c.label, "", c.unit, strconv.Itoa(c.dp), "", ""}); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteParquet writes rows with the given key/value metadata (sorted by key so
// the file is reproducible).
func WriteParquet[T any](w io.Writer, rows []T, metadata map[string]string) error {
	keys := make([]string, 0, len(metadata))
	for k := range metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	opts := []parquet.WriterOption{parquet.Compression(&zstd.Codec{})}
	for _, k := range keys {
		opts = append(opts, parquet.KeyValueMetadata(k, metadata[k]))
	}
	pw := parquet.NewGenericWriter[T](w, opts...)
	if _, err := pw.Write(rows); err != nil {
		return fmt.Errorf("write parquet rows: %w", err)
	}
	return pw.Close()
}
