package ingest

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"

	"github.com/outcomes/outcomes/pipeline/config"
	"github.com/outcomes/outcomes/schemas"
	"github.com/outcomes/outcomes/transforms/linkage"
	"github.com/outcomes/outcomes/transforms/pseudonym"
)

// TokeniseSummary counts what TokeniseFile wrote.
type TokeniseSummary struct {
	Rows int64
	// WithKey counts rows by match key present (a row usually has several).
	WithKey map[string]int64
	// NoKey counts rows with no key at all: the pipeline will quarantine
	// them as missing_identifier.
	NoKey int64
	// InvalidNHSNumber and InvalidUPN count rows whose identifier failed its
	// check; the pipeline will quarantine them as it would the raw file's.
	InvalidNHSNumber, InvalidUPN int64
	// NotShown counts fields replaced by NotShown.
	NotShown int64
}

// tokenisedKeep are the participation columns a tokenised file keeps: what
// the pipeline needs and nothing that identifies anyone. Gender is folded
// into the phonetic key and dropped; columns outside the contract are
// dropped too (data minimisation: a free-text note can name a child).
var tokenisedKeep = []string{"programme", "event_date", "event", "attended"}

// NotShown replaces a kept field whose value is not one the pipeline
// expects: a misplaced name, number or date of birth is exactly what would
// sit there, and the tokenised file must carry none. The pipeline then
// quarantines the record with the reason the raw value would have earned.
const NotShown = "[not shown: unexpected value]"

// TokenRules say which values of the kept columns a tokenised file may carry.
type TokenRules struct {
	// Programmes are the configured programme ids.
	Programmes []string
	// EventsFrom and EventsTo bound the event dates kept: the configured terms
	// widened by a year each way, so a late referral survives but a date of
	// birth (four or more years before any term) does not.
	EventsFrom, EventsTo time.Time
	// Format is how the pipeline reads participation files
	// (sources.participation): its column mapping and encoding apply here.
	Format config.Format
}

// keep returns value when the rules allow it in column col, else NotShown.
func (r TokenRules) keep(col, value string) string {
	v := strings.TrimSpace(value)
	if v == "" {
		return ""
	}
	ok := false
	switch col {
	case "programme":
		ok = slices.Contains(r.Programmes, strings.ToLower(v))
	case "event":
		ok = slices.Contains(schemas.ParticipationEvents, strings.ToLower(v))
	case "attended":
		ok = strings.EqualFold(v, "Y") || strings.EqualFold(v, "N")
	case "event_date":
		for _, layout := range []string{"2006-01-02", "02/01/2006", "2/1/2006", "02-Jan-2006", "2-Jan-2006"} {
			if d, err := time.Parse(layout, v); err == nil {
				ok = !d.Before(r.EventsFrom) && !d.After(r.EventsTo)
				break
			}
		}
	}
	if !ok {
		return NotShown
	}
	return v
}

// TokeniseFile reads a partner's raw participation CSV and writes the same
// records with every identifier replaced by its match-key tokens under tok:
// the file a partner can send instead of raw health records. Headers are
// matched as the pipeline matches them (ignoring case, spaces and
// punctuation). Kept fields carry only values rules allow. Each output record is the input record of the same number,
// so the pipeline's quarantine messages point at the partner's own records.
func TokeniseFile(in io.Reader, out io.Writer, name string, tok *pseudonym.Tokeniser, rules TokenRules) (*TokeniseSummary, error) {
	tok = tok.Linkage() // match tokens only, under the key partners share
	// Partner files are small (thousands of records): read whole, so the
	// encoding can be settled before any field is read.
	raw, err := io.ReadAll(in)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	raw = bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf"))
	if !utf8.Valid(raw) {
		if rules.Format.Encoding == config.EncodingUTF8 {
			return nil, fmt.Errorf("%s: %w: it is not UTF-8, as sources.participation.encoding says; save it as UTF-8 or set encoding = \"windows-1252\"", name, ErrUnreadable)
		}
		// Excel's "CSV" on Windows: names with accents must decode to the
		// letters the roster has, or no name key could match.
		if raw, err = charmap.Windows1252.NewDecoder().Bytes(raw); err != nil {
			return nil, fmt.Errorf("%s: %w: not UTF-8 and not Windows-1252", name, ErrUnreadable)
		}
	}
	r := csv.NewReader(bytes.NewReader(raw))
	r.FieldsPerRecord = -1
	head, err := r.Read()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: the file is empty: expected a header row", name)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: read header: %w", name, plainCSVError(err))
	}
	if slices.Contains(head, "key_fingerprint") {
		return nil, fmt.Errorf("%s is already tokenised (it has a key_fingerprint column)", name)
	}
	// Headers are matched as the pipeline matches them: the configured
	// mapping of sources.participation, else the contract's own names. A
	// header-less file's first row is never repeated into the message.
	at, err := resolveColumns(File{Source: schemas.SourceParticipation, Path: name, Format: rules.Format}, head)
	if err != nil {
		return nil, err
	}
	field := func(rec []string, col string) string {
		if i, ok := at[col]; ok && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	w := csv.NewWriter(out)
	outHead := append(append([]string{}, tokenisedKeep...), schemas.TokenisedColumns...)
	if err := w.Write(outHead); err != nil {
		return nil, err
	}
	sum := &TokeniseSummary{WithKey: map[string]int64{}}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, plainCSVError(err))
		}
		if len(rec) != len(head) {
			line, _ := r.FieldPos(0)
			return nil, fmt.Errorf("%s line %d: %d fields where the header has %d (a stray comma or quote, or a file cut off mid-row); nothing was written",
				name, line, len(rec), len(head))
		}
		row := make([]string, 0, len(outHead))
		for _, c := range tokenisedKeep {
			v := rules.keep(c, field(rec, c))
			if v == NotShown {
				sum.NotShown++
			}
			row = append(row, v)
		}
		var nhsCheck, nhsTok, upnCheck, upnTok string
		if v := field(rec, "nhs_number"); v != "" {
			nhsCheck, nhsTok = linkage.NHSToken(tok, v)
			if nhsCheck != "valid" {
				sum.InvalidNHSNumber++
			}
		}
		if v := field(rec, "upn"); v != "" {
			upnCheck, upnTok = linkage.UPNToken(tok, v)
			if upnCheck == "invalid" {
				sum.InvalidUPN++
			}
		}
		demo := linkage.Tokens(tok, linkage.Demographics{Forename: field(rec, "forename"), Surname: field(rec, "surname"),
			DateOfBirth: field(rec, "date_of_birth"), Postcode: field(rec, "postcode"), Sex: field(rec, "gender")})
		tokens := append([]string{nhsTok, upnTok}, demo...)
		row = append(row, tok.Fingerprint(), nhsCheck, upnCheck)
		row = append(row, tokens...)
		hasKey := false
		for i, t := range tokens {
			if t != "" {
				hasKey = true
				sum.WithKey[schemas.MatchKeys[i]]++
			}
		}
		if !hasKey {
			sum.NoKey++
		}
		sum.Rows++
		if err := w.Write(row); err != nil {
			return nil, err
		}
	}
	w.Flush()
	return sum, w.Error()
}

// plainCSVError keeps encoding/csv's position and reason; it never quotes
// the record's content.
func plainCSVError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return fmt.Errorf("line %d, column %d: %v", pe.StartLine, pe.Column, pe.Err)
	}
	return err
}
