package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/outcomes/outcomes/pipeline/analysis"
	"github.com/outcomes/outcomes/queries"
)

func cmdQuery(ctx context.Context, args []string, stdout io.Writer, _ *slog.Logger) error {
	fs := newFlags("query")
	cfgPath := fs.String("config", "", "pipeline configuration file: queries its latest release")
	release := fs.String("release", "", "a release id (under the configuration's releases) or a release folder")
	format := fs.String("format", "table", "output: table, csv or json")
	school := fs.String("school", "", "named queries: a school URN")
	programme := fs.String("programme", "", "named queries: a programme id")
	list := fs.Bool("list", false, "list the named queries")
	// The query may come before or after the flags.
	var text string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		text, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if text == "" && fs.NArg() == 1 {
		text = fs.Arg(0)
	} else if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q (quote the SQL as one argument)", fs.Arg(0))}
	}
	if *list {
		for _, n := range queries.AnalystNames() {
			fmt.Fprintf(stdout, "%-26s %s\n", n, strings.TrimPrefix(queries.AnalystDescription(n), n+": "))
		}
		return nil
	}
	if text == "" {
		return usageError{errors.New(`give SQL or a named query: outcomes query --config FILE "SELECT ..." (outcomes query --list shows the names)`)}
	}
	if *format != "table" && *format != "csv" && *format != "json" {
		return usageError{fmt.Errorf("--format %q: use table, csv or json", *format)}
	}
	dir, err := releaseDir(*cfgPath, *release)
	if err != nil {
		return err
	}
	s, err := analysis.Open(ctx, dir)
	if err != nil {
		return err
	}
	defer s.Close()
	query := text
	if named, ok := queries.Analyst(text); ok {
		query = named
	}
	params := map[string]any{"school": optional(*school), "programme": optional(*programme)}
	res, err := s.Query(ctx, query, params)
	if err != nil {
		return usageError{fmt.Errorf("the query failed: %v\nquery: %s", err, strings.TrimSpace(text))}
	}
	switch *format {
	case "csv":
		return writeCSV(stdout, res)
	case "json":
		return writeJSON(stdout, res)
	}
	return writeTable(stdout, res)
}

func optional(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// releaseDir resolves --release and --config to a release folder.
func releaseDir(cfgPath, release string) (string, error) {
	if release != "" && (strings.ContainsRune(release, filepath.Separator) || cfgPath == "") {
		return release, nil
	}
	if cfgPath == "" {
		return "", usageError{errors.New("--config FILE or --release DIR is required")}
	}
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		return "", err
	}
	out := cfg.Path(cfg.Run.OutputDir)
	if release != "" {
		return filepath.Join(out, "releases", filepath.Base(release)), nil
	}
	if _, err := os.Lstat(filepath.Join(out, "latest")); err != nil {
		return "", fmt.Errorf("no release has been published in %s yet: run `outcomes run --config %s` first", out, cfgPath)
	}
	return filepath.Join(out, "latest"), nil
}

func cell(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case float64:
		return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.4f", x), "0"), ".")
	case time.Time:
		return x.Format(time.RFC3339)
	case []byte:
		return string(x)
	}
	return fmt.Sprint(v)
}

func writeTable(w io.Writer, res *analysis.Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(res.Columns, "\t"))
	for _, r := range res.Rows {
		cells := make([]string, len(r))
		for i, v := range r {
			cells[i] = cell(v)
			if v == nil {
				cells[i] = "NULL"
			}
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "(%d rows)\n", len(res.Rows))
	return nil
}

func writeCSV(w io.Writer, res *analysis.Result) error {
	cw := csv.NewWriter(w)
	cw.Write(res.Columns)
	for _, r := range res.Rows {
		cells := make([]string, len(r))
		for i, v := range r {
			cells[i] = cell(v)
		}
		cw.Write(cells)
	}
	cw.Flush()
	return cw.Error()
}

func writeJSON(w io.Writer, res *analysis.Result) error {
	out := make([]map[string]any, 0, len(res.Rows))
	for _, r := range res.Rows {
		m := make(map[string]any, len(r))
		for i, v := range r {
			if b, ok := v.([]byte); ok {
				v = string(b)
			}
			m[res.Columns[i]] = v
		}
		out = append(out, m)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
