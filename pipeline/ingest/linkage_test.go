package ingest

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding/charmap"

	"github.com/outcomes/outcomes/fixtures"
	"github.com/outcomes/outcomes/pipeline/config"
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
	if err := DefinePartitions(context.Background(), conn, partitionsOf(truth)); err != nil {
		t.Fatal(err)
	}
	return &linkWorld{conn: conn, tok: tok, dir: data, truth: truth}
}

// partitionsOf is a generated trust's schools and programmes, with the test
// terms (the fixtures' default academic year).
func partitionsOf(truth *fixtures.Truth) Partitions {
	p := Partitions{Terms: testPartitions.Terms}
	for _, s := range truth.Trust.Schools {
		p.Schools = append(p.Schools, s.URN)
	}
	for _, pr := range truth.Trust.Programmes {
		p.Programmes = append(p.Programmes, pr.ID)
	}
	return p
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
	linked, _, res := w.linkParticipationBy(t, participation)
	return linked, res
}

// linkParticipationBy is linkParticipation that also returns the key each
// line linked on.
func (w *linkWorld) linkParticipationBy(t *testing.T, participation string) (map[int]string, map[int]string, *Result) {
	t.Helper()
	res, err := Load(context.Background(), w.conn, []File{
		{Source: schemas.SourceRoster, Path: filepath.Join(w.dir, fixtures.RosterFile)},
		{Source: schemas.SourceParticipation, Path: participation},
	}, w.tok, filepath.Join(w.dir, "..", "quarantine"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { DropStaging(w.conn) })
	rows, err := w.conn.QueryContext(context.Background(), `SELECT c.line, coalesce(p.upn_token, ''), coalesce(c.linked_by, '')
		FROM checked_participation c LEFT JOIN staged_pupils p USING (pupil_key)`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	linked, by := map[int]string{}, map[int]string{}
	for rows.Next() {
		var line int
		var token, key string
		if err := rows.Scan(&line, &token, &key); err != nil {
			t.Fatal(err)
		}
		linked[line], by[line] = token, key
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return linked, by, res
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
	linked, by, res := w.linkParticipationBy(t, filepath.Join(w.dir, fixtures.ParticipationFile))
	truth := w.trueLinks(t)
	var onRoster, linkedN, correct, strangersLinked int
	// Links on identifiers are right almost by construction; the links made
	// on demographics are the ones to watch.
	var demoLinked, demoCorrect int
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
		if by[line] != "nhs_number" && by[line] != "upn" {
			demoLinked++
			if got == want {
				demoCorrect++
			}
		}
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
	demoPrecision := float64(demoCorrect) / float64(demoLinked)
	t.Logf("links on demographics alone: precision %.2f%% (%d of %d)", 100*demoPrecision, demoCorrect, demoLinked)
	if demoPrecision < 0.99 {
		t.Errorf("precision of links on demographics %.4f, want at least 0.99", demoPrecision)
	}
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
	// A roster pupil's record dated years before any term: quarantined from
	// either file (the tokens file never carries it, the raw one fails the
	// date window), so it cannot make the two differ.
	pupil := readCSVFile(t, filepath.Join(w.dir, fixtures.RosterFile))[1]
	f, err := os.OpenFile(raw, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "mhst,,,%s,%s,%s,%s,%s,2019-05-01,session,Y\n", pupil[7], pupil[8], pupil[6], pupil[9], pupil[5])
	f.Close()
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
	if rs.RowsLoaded != ts.RowsLoaded || rs.RowsDuplicate != ts.RowsDuplicate || rs.RowsQuarantined != ts.RowsQuarantined || rs.RowsQuarantined != 1 {
		t.Errorf("row accounting differs, or the old record was not quarantined: raw %+v, tokenised %+v", rs, ts)
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
	if err == nil || !strings.Contains(err.Error(), other.Linkage().Fingerprint()) || !strings.Contains(err.Error(), w.tok.Linkage().Fingerprint()) ||
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

// TestCascadeRules gives the cascade's rules one small case each: what a
// partner record links to, or why it links to nobody.
func TestCascadeRules(t *testing.T) {
	upn := func(i int) string { return schemas.MakeUPN(373, int64(100+i)) }
	nhs := func(i int) string { return schemas.MakeTestNHSNumber(int64(500 + i)) }
	type person struct{ nhs, upn, fore, sur, dob, pc, sex string }
	oliver := person{nhs(1), upn(1), "Oliver", "Smith", "2015-03-07", "S10 5DD", "M"}
	oscar := person{"", upn(2), "Oscar", "Smith", "2015-03-07", "S10 5DD", "M"} // Oliver's twin, no NHS number on the roster
	isla := person{"", upn(3), "Isla", "Patel", "2014-11-30", "S1 2AB", "F"}
	roster := []person{oliver, oscar, isla}
	type want struct {
		linkedBy string // match key, "ambiguous", "conflict", "unmatched", or "quarantined:<reason>"
		pupil    int    // index into roster when linked
		warning  string
	}
	for _, tc := range []struct {
		name    string
		records []person
		want    []want
	}{
		{"NHS number first", []person{{nhs(1), "", "Olly", "Smyth", "07/03/2015", "S2 1AA", "M"}}, []want{{linkedBy: "nhs_number", pupil: 0}}},
		{"demographics when the roster lacks the NHS number",
			[]person{{nhs(9), "", "ISLA", "patel", "30/11/2014", "s12ab", "F"}}, []want{{linkedBy: "names_dob_postcode", pupil: 2}}},
		{"swapped names", []person{{"", "", "Patel", "Isla", "2014-11-30", "S9 9ZZ", "F"}}, []want{{linkedBy: "names_dob", pupil: 2}}},
		{"a key naming two pupils links nothing",
			[]person{{"", "", "O", "Smith", "2015-03-07", "S10 5DD", "M"}}, []want{{linkedBy: "ambiguous"}}},
		{"partner records of two children under one key",
			[]person{{nhs(7), "", "Isla", "Patel", "2014-11-30", "S1 2AB", "F"}, {nhs(8), "", "Isla", "Patel", "2014-11-30", "S1 2AB", "F"}},
			[]want{{linkedBy: "ambiguous"}, {linkedBy: "ambiguous"}}},
		{"NHS number and UPN name two pupils", []person{{nhs(1), upn(3), "", "", "", "", ""}}, []want{{linkedBy: "conflict"}}},
		{"UPN whose pupil has another NHS number", []person{{nhs(9), upn(1), "", "", "", "", ""}}, []want{{linkedBy: "conflict"}}},
		{"demographics whose pupil has another NHS number",
			[]person{{nhs(9), "", "Oliver", "Smith", "2015-03-07", "S10 5DD", "M"}}, []want{{linkedBy: "conflict"}}},
		{"an invalid NHS number is ignored when demographics link",
			[]person{{"1234567890", "", "Isla", "Patel", "2014-11-30", "S1 2AB", "F"}},
			[]want{{linkedBy: "names_dob_postcode", pupil: 2, warning: "nhs_number_ignored"}}},
		{"an invalid NHS number and nothing else", []person{{"1234567890", "", "", "", "", "", ""}}, []want{{linkedBy: "quarantined:invalid_nhs_number"}}},
		{"no key at all", []person{{"", "", "Isla", "", "", "", "F"}}, []want{{linkedBy: "quarantined:missing_identifier"}}},
		{"a stranger", []person{{nhs(6), "", "Amara", "Okafor", "2016-01-02", "S3 3CC", "F"}}, []want{{linkedBy: "unmatched"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, tok, dir := setup(t)
			var r, p strings.Builder
			r.WriteString("school_urn,upn,year_group,gender,date_of_birth,forename,surname,postcode,nhs_number\n")
			for _, x := range roster {
				fmt.Fprintf(&r, "900001,%s,4,%s,%s,%s,%s,%s,%s\n", x.upn, x.sex, x.dob, x.fore, x.sur, x.pc, x.nhs)
			}
			p.WriteString(strings.Join(fixtures.ParticipationHeader, ",") + "\n")
			for _, x := range tc.records {
				fmt.Fprintf(&p, "mhst,%s,%s,%s,%s,%s,%s,%s,2024-10-01,session,Y\n", x.nhs, x.upn, x.fore, x.sur, x.dob, x.pc, x.sex)
			}
			res, err := Load(context.Background(), conn, []File{
				{Source: schemas.SourceRoster, Path: write(t, dir, "roster.csv", r.String())},
				{Source: schemas.SourceParticipation, Path: write(t, dir, "participation.csv", p.String())},
			}, tok, filepath.Join(dir, "q"))
			if err != nil {
				t.Fatal(err)
			}
			defer DropStaging(conn)
			for i, w := range tc.want {
				var outcome, how, pupil string
				err := conn.QueryRowContext(context.Background(), `SELECT c.outcome,
						CASE WHEN c.outcome = 'quarantined' THEN 'quarantined:' || split_part(c.failed, ':', 1) ELSE coalesce(c.linked_by, 'unmatched') END,
						coalesce(p.upn_token, '')
					FROM checked_participation c LEFT JOIN staged_pupils p USING (pupil_key) WHERE c.line = ?`, i+2).Scan(&outcome, &how, &pupil)
				if err != nil {
					t.Fatal(err)
				}
				wantPupil := ""
				if !strings.Contains("ambiguous conflict unmatched", w.linkedBy) && !strings.HasPrefix(w.linkedBy, "quarantined") {
					wantPupil = tok.Token(pseudonym.UPN, roster[w.pupil].upn)
				}
				if how != w.linkedBy || pupil != wantPupil {
					t.Errorf("record %d: %s to pupil %q, want %s to %q", i+1, how, pupil, w.linkedBy, wantPupil)
				}
				if w.warning != "" && res.Stats[1].Warnings[w.warning] != 1 {
					t.Errorf("warnings %v, want one %s", res.Stats[1].Warnings, w.warning)
				}
			}
		})
	}
}

// TestTokensWithoutFingerprintAreRefused: tok_ columns with no key
// fingerprint cannot be checked against the key, so the file is refused.
func TestTokensWithoutFingerprintAreRefused(t *testing.T) {
	conn, tok, dir := setup(t)
	roster := write(t, dir, "roster.csv", "school_urn,upn,year_group\n900001,"+schemas.MakeUPN(373, 1)+",3\n")
	part := write(t, dir, "participation.csv", "programme,event_date,event,attended,tok_names_dob\nmhst,2024-10-01,session,Y,"+
		strings.Repeat("a", 32)+"\n")
	_, err := Load(context.Background(), conn, []File{
		{Source: schemas.SourceRoster, Path: roster},
		{Source: schemas.SourceParticipation, Path: part},
	}, tok, filepath.Join(dir, "q"))
	DropStaging(conn)
	if !errors.Is(err, ErrTokenKey) || !strings.Contains(err.Error(), "no fingerprint") {
		t.Fatalf("err = %v, want a refusal for tokens without a fingerprint", err)
	}
}

// TestTokeniseFileReadsPartnerExports: a partner's export saved by Excel
// (Windows-1252, its own headers, mapped in sources.participation) is read
// as the pipeline would read it, and a file without its header row is
// refused without repeating that row.
func TestTokeniseFileReadsPartnerExports(t *testing.T) {
	conn, tok, dir := setup(t)
	upn := schemas.MakeUPN(373, 42)
	roster := write(t, dir, "roster.csv", "school_urn,upn,year_group,gender,date_of_birth,forename,surname,postcode\n"+
		"900001,"+upn+",4,F,2015-03-07,Zoë,Núñez,S10 5DD\n")
	format := config.Format{Columns: map[string]string{"Child Forename": "forename", "Child Surname": "surname", "DOB": "date_of_birth",
		"Home Postcode": "postcode", "Sex": "gender", "Service": "programme", "Contact Date": "event_date", "Contact Type": "event", "Attended?": "attended"}}
	rules := TokenRules{Programmes: []string{"mhst"}, Format: format,
		EventsFrom: time.Date(2023, 9, 1, 0, 0, 0, 0, time.UTC), EventsTo: time.Date(2026, 8, 31, 0, 0, 0, 0, time.UTC)}
	export, err := charmap.Windows1252.NewEncoder().String("Service,Child Forename,Child Surname,DOB,Home Postcode,Sex,Contact Date,Contact Type,Attended?\r\n" +
		"mhst,ZOË,Núñez,07/03/2015,s105dd,2,2024-10-01,session,Y\r\n")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := TokeniseFile(strings.NewReader(export), &out, "camhs.csv", tok, rules); err != nil {
		t.Fatal(err)
	}
	tokens := write(t, dir, "camhs.tokens.csv", out.String())
	if _, err := Load(context.Background(), conn, []File{
		{Source: schemas.SourceRoster, Path: roster},
		{Source: schemas.SourceParticipation, Path: tokens},
	}, tok, filepath.Join(dir, "q")); err != nil {
		t.Fatal(err)
	}
	defer DropStaging(conn)
	var how, pupil string
	if err := conn.QueryRowContext(context.Background(), `SELECT coalesce(c.linked_by, 'unmatched'), coalesce(p.upn_token, '')
		FROM checked_participation c LEFT JOIN staged_pupils p USING (pupil_key)`).Scan(&how, &pupil); err != nil {
		t.Fatal(err)
	}
	if how != "names_dob_postcode" || pupil != tok.Token(pseudonym.UPN, upn) {
		t.Errorf("linked by %s to %q, want names_dob_postcode to the roster pupil", how, pupil)
	}

	headerless := "mhst,9990000018,,Zoe,Nunez,2015-03-07,S10 5DD,F,2024-10-01,session,Y\n"
	_, err = TokeniseFile(strings.NewReader(headerless), &bytes.Buffer{}, "camhs.csv", tok, TokenRules{})
	var missing *MissingColumnsError
	if !errors.As(err, &missing) || strings.Contains(err.Error(), "9990000018") || strings.Contains(strings.ToLower(err.Error()), "nunez") {
		t.Errorf("header-less file: %v; want a missing-columns error that repeats nothing of the row", err)
	}
}
