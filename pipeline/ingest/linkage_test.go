package ingest

import (
	"context"
	"database/sql"
	"encoding/csv"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/outcomes/outcomes/fixtures"
	"github.com/outcomes/outcomes/schemas"
	"github.com/outcomes/outcomes/transforms/pseudonym"
)

// `make linkage-eval SEED=n` sets these to score freshly generated fixtures.
var (
	linkageSeed    = flag.Int64("linkage-seed", 1, "fixtures seed for TestLinkageQuality")
	linkageSchools = flag.Int("linkage-schools", 6, "schools in the fixtures for TestLinkageQuality")
)

// linkWorld is a generated trust loaded as far as linkage: roster and
// participation only (linkage does not read attendance).
type linkWorld struct {
	conn  *sql.Conn
	tok   *pseudonym.Tokeniser
	dir   string
	truth *fixtures.Truth
}

func generateForLinkage(t *testing.T, opt fixtures.Options) *linkWorld {
	t.Helper()
	conn, tok, dir := setup(t)
	data := filepath.Join(dir, "data")
	truth, err := fixtures.Generate(data, opt)
	if err != nil {
		t.Fatal(err)
	}
	p := Partitions{Terms: testPartitions.Terms}
	for _, s := range truth.Trust.Schools {
		p.Schools = append(p.Schools, s.URN)
	}
	for _, pr := range truth.Trust.Programmes {
		p.Programmes = append(p.Programmes, pr.ID)
	}
	if err := DefinePartitions(context.Background(), conn, p); err != nil {
		t.Fatal(err)
	}
	return &linkWorld{conn: conn, tok: tok, dir: data, truth: truth}
}

// rules are the tokenising rules of the generated trust.
func (w *linkWorld) rules() TokenRules {
	r := TokenRules{EventsFrom: time.Date(2023, 9, 1, 0, 0, 0, 0, time.UTC), EventsTo: time.Date(2026, 8, 31, 0, 0, 0, 0, time.UTC)}
	for _, p := range w.truth.Trust.Programmes {
		r.Programmes = append(r.Programmes, p.ID)
	}
	return r
}

// linkParticipation loads the roster and one participation file and returns
// each participation line's linked pupil as its UPN token ("" if unlinked).
func (w *linkWorld) linkParticipation(t *testing.T, participation string) (map[int]string, *Result) {
	t.Helper()
	res, err := Load(context.Background(), w.conn, []File{
		{Source: schemas.SourceRoster, Path: filepath.Join(w.dir, fixtures.RosterFile)},
		{Source: schemas.SourceParticipation, Path: participation},
	}, w.tok, filepath.Join(w.dir, "..", "quarantine"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { DropStaging(w.conn) })
	rows, err := w.conn.QueryContext(context.Background(), `SELECT c.line, coalesce(p.upn_token, '')
		FROM checked_participation c LEFT JOIN staged_pupils p USING (pupil_key)`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	linked := map[int]string{}
	for rows.Next() {
		var line int
		var token string
		if err := rows.Scan(&line, &token); err != nil {
			t.Fatal(err)
		}
		linked[line] = token
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return linked, res
}

// trueLinks reads the fixtures' participation_links.csv as line -> UPN token.
func (w *linkWorld) trueLinks(t *testing.T) map[int]string {
	t.Helper()
	recs := readCSVFile(t, filepath.Join(w.dir, fixtures.LinksFile))
	out := map[int]string{}
	for _, r := range recs[1:] {
		line, _ := strconv.Atoi(r[0])
		if r[1] != "" {
			out[line] = w.tok.Token(pseudonym.UPN, r[1])
		} else {
			out[line] = ""
		}
	}
	return out
}

// TestLinkageQuality scores the match-key cascade against the fixtures' true
// links: partner records carry realistic noise (no NHS number on a third,
// typos, nicknames, swapped names, changed surnames, moved postcodes, UK
// dates) and some are of children not on the roster.
//
//	precision = correctly linked / linked
//	recall    = correctly linked / records of roster pupils
func TestLinkageQuality(t *testing.T) {
	if testing.Short() {
		t.Skip("generates a trust")
	}
	w := generateForLinkage(t, fixtures.Options{Seed: *linkageSeed, Schools: *linkageSchools, UnlinkableRecords: 300})
	linked, res := w.linkParticipation(t, filepath.Join(w.dir, fixtures.ParticipationFile))
	truth := w.trueLinks(t)
	var onRoster, linkedN, correct, strangersLinked int
	for line, want := range truth {
		got, ok := linked[line]
		if !ok {
			t.Fatalf("line %d has no outcome", line)
		}
		if want != "" {
			onRoster++
		}
		if got == "" {
			continue
		}
		linkedN++
		switch {
		case got == want:
			correct++
		case want == "":
			strangersLinked++
		}
	}
	precision := float64(correct) / float64(linkedN)
	recall := float64(correct) / float64(onRoster)
	byKey := map[string]int64{}
	var ambiguous, conflicting, unmatched int64
	for _, l := range res.Linkage {
		for k, n := range l.ByKey {
			byKey[k] += n
		}
		ambiguous += l.Ambiguous
		conflicting += l.Conflicting
		unmatched += l.Unmatched
	}
	var keys []string
	for _, k := range schemas.MatchKeys {
		keys = append(keys, fmt.Sprintf("%s %d", k, byKey[k]))
	}
	t.Logf("linkage, seed %d: %d records (%d of roster pupils); precision %.2f%% (%d of %d linked are right; %d records of children not on the roster linked), recall %.2f%% (%d of %d)",
		*linkageSeed, len(truth), onRoster, 100*precision, correct, linkedN, strangersLinked, 100*recall, correct, onRoster)
	t.Logf("linked by key: %s; ambiguous %d, conflicting %d, unmatched %d", strings.Join(keys, ", "), ambiguous, conflicting, unmatched)
	if precision < 0.995 {
		t.Errorf("precision %.4f, want at least 0.995", precision)
	}
	if recall < 0.95 {
		t.Errorf("recall %.4f, want at least 0.95", recall)
	}
}

// TestTokenisedFileLinksLikeRaw tokenises the partner file as a partner would
// (TokeniseFile, behind `outcomes tokens`) and checks that the pipeline links
// every record of it to the same pupil as the raw file, with the same counts.
func TestTokenisedFileLinksLikeRaw(t *testing.T) {
	w := generateForLinkage(t, fixtures.Options{Seed: 3, Schools: 2, PupilsPerSchool: 150, UnlinkableRecords: 20})
	raw := filepath.Join(w.dir, fixtures.ParticipationFile)
	in, err := os.Open(raw)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	tokenised := filepath.Join(w.dir, "participation.tokens.csv")
	out, err := os.Create(tokenised)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := TokeniseFile(in, out, "participation.csv", w.tok, w.rules()); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	fromRaw, rawRes := w.linkParticipation(t, raw)
	DropStaging(w.conn)
	fromTokens, tokRes := w.linkParticipation(t, tokenised)
	if len(fromRaw) != len(fromTokens) {
		t.Fatalf("raw file has %d outcomes, tokenised %d", len(fromRaw), len(fromTokens))
	}
	linked := 0
	for line, pupil := range fromRaw {
		if fromTokens[line] != pupil {
			t.Errorf("line %d: raw links to %q, tokenised to %q", line, pupil, fromTokens[line])
		}
		if pupil != "" {
			linked++
		}
	}
	if linked == 0 {
		t.Fatal("nothing linked")
	}
	if fmt.Sprint(rawRes.Linkage) != fmt.Sprint(tokRes.Linkage) {
		t.Errorf("linkage reports differ:\nraw       %+v\ntokenised %+v", rawRes.Linkage, tokRes.Linkage)
	}
	rs, ts := rawRes.Stats[1], tokRes.Stats[1]
	if rs.RowsLoaded != ts.RowsLoaded || rs.RowsDuplicate != ts.RowsDuplicate || rs.RowsQuarantined != ts.RowsQuarantined {
		t.Errorf("row accounting differs: raw %+v, tokenised %+v", rs, ts)
	}
	t.Logf("%d records, %d linked, both ways", len(fromRaw), linked)

	// The tokenised file holds no identifier of any roster pupil.
	b, err := os.ReadFile(tokenised)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range rosterIdentifiers(t, filepath.Join(w.dir, fixtures.RosterFile)) {
		if strings.Contains(string(b), id) {
			t.Fatalf("tokenised file contains the raw identifier %q", id)
		}
	}
}

// TestTokenisedFileWithAnotherKeyIsRefused: tokens made with another key
// match nothing, so the run stops and says why instead of linking nobody.
func TestTokenisedFileWithAnotherKeyIsRefused(t *testing.T) {
	w := generateForLinkage(t, fixtures.Options{Seed: 3, Schools: 1, PupilsPerSchool: 60})
	other, err := pseudonym.New([]byte(strings.Repeat("x", 32)))
	if err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(filepath.Join(w.dir, fixtures.ParticipationFile))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	path := filepath.Join(w.dir, "other-key.csv")
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := TokeniseFile(in, out, "participation.csv", other, w.rules()); err != nil {
		t.Fatal(err)
	}
	out.Close()
	_, err = Load(context.Background(), w.conn, []File{
		{Source: schemas.SourceRoster, Path: filepath.Join(w.dir, fixtures.RosterFile)},
		{Source: schemas.SourceParticipation, Path: path},
	}, w.tok, filepath.Join(w.dir, "q"))
	DropStaging(w.conn)
	if err == nil || !strings.Contains(err.Error(), other.Fingerprint()) || !strings.Contains(err.Error(), w.tok.Fingerprint()) ||
		!strings.Contains(err.Error(), "line 2") {
		t.Fatalf("err = %v, want a refusal naming line 2 and both key fingerprints", err)
	}
}

// rosterIdentifiers returns every UPN, NHS number, name, date of birth and
// postcode in a roster file, longest first, leaving out values so short they
// would match by chance.
func rosterIdentifiers(t *testing.T, path string) []string {
	t.Helper()
	recs := readCSVFile(t, path)
	seen := map[string]bool{}
	for _, r := range recs[1:] {
		for _, i := range []int{1, 6, 9, 10} { // upn, date_of_birth, postcode, nhs_number
			if len(r[i]) >= 6 {
				seen[r[i]] = true
			}
		}
		seen[r[7]+","+r[8]] = true // forename,surname as a CSV row would hold them
	}
	var out []string
	for id := range seen {
		out = append(out, id)
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// TestTokenRulesKeepOnlyExpectedValues: a kept column passes only values the
// pipeline expects, so a misplaced identifier never reaches a tokens file.
func TestTokenRulesKeepOnlyExpectedValues(t *testing.T) {
	r := TokenRules{Programmes: []string{"mhst", "asthma"},
		EventsFrom: time.Date(2023, 9, 1, 0, 0, 0, 0, time.UTC), EventsTo: time.Date(2026, 8, 31, 0, 0, 0, 0, time.UTC)}
	for _, tc := range []struct{ col, in, want string }{
		{"programme", "mhst", "mhst"},
		{"programme", " MHST ", "MHST"},
		{"programme", "Smith", NotShown},
		{"event", "Session", "Session"},
		{"event", "S1 2AB", NotShown},
		{"attended", "y", "y"},
		{"attended", "Olivia", NotShown},
		{"event_date", "2024-10-01", "2024-10-01"},
		{"event_date", "01/10/2024", "01/10/2024"},
		{"event_date", "1-Oct-2024", "1-Oct-2024"},
		{"event_date", "2015-03-07", NotShown}, // a date of birth
		{"event_date", "07/03/2015", NotShown},
		{"event_date", "9990000018", NotShown},
		{"event_date", "", ""},
	} {
		if got := r.keep(tc.col, tc.in); got != tc.want {
			t.Errorf("keep(%s, %q) = %q, want %q", tc.col, tc.in, got, tc.want)
		}
	}
}

// readCSVFile reads a whole CSV file, header included.
func readCSVFile(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}
