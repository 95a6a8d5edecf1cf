package ingest

import (
	"bytes"
	"io"
	"unicode/utf8"
)

// scanCSVReference is the byte-at-a-time scan that scanCSV must agree with
// (FuzzScanCSV); it was the first implementation.
// scanCSVReference reads r once. Quotes open a field only at its start, a doubled
// quote inside a quoted field is an escaped quote, and line breaks count as
// records only outside quotes: the rules of DuckDB's strict CSV parser.
func scanCSVReference(r io.Reader) (*csvScan, error) {
	s := &csvScan{validUTF8: true}
	var (
		physNL, duckNL int64 // line breaks seen: all, and outside quotes
		header         = true
		lineStart      = true // at the start of a line outside quotes: a record may begin
		fieldStart     = true
		inQuote        bool
		afterClose     bool // just closed a quoted field: a quote now is an escaped one
		prev           byte
		carry          []byte
		first          = true
	)
	buf := make([]byte, 256<<10)
	startRecord := func() {
		lineStart = false
		if header {
			return
		}
		s.records++
		j := s.records
		d, p := duckNL+1-(j+1), physNL+1-(j+1)
		if n := len(s.breaks); n == 0 || s.breaks[n-1].dOff != d || s.breaks[n-1].pOff != p {
			s.breaks = append(s.breaks, breakpoint{j: j, dOff: d, pOff: p})
		}
	}
	for {
		n, err := r.Read(buf)
		chunk := buf[:n]
		if first && n > 0 {
			first = false
			if bytes.HasPrefix(chunk, []byte("\ufeff")) {
				s.bom = true
			}
		}
		if s.validUTF8 && n > 0 {
			data := append(carry, chunk...)
			cut := len(data)
			// Keep an incomplete rune at the end for the next chunk.
			for k := len(data) - 1; k >= 0 && k >= len(data)-utf8.UTFMax; k-- {
				if utf8.RuneStart(data[k]) {
					if !utf8.FullRune(data[k:]) {
						cut = k
					}
					break
				}
			}
			if !utf8.Valid(data[:cut]) {
				s.validUTF8 = false
				at := max(0, firstInvalid(data[:cut])-len(carry)) // offset in this chunk
				s.badLine = physNL + 1 + int64(bytes.Count(chunk[:at], []byte("\n")))
			}
			carry = append(carry[:0], data[cut:]...)
		}
		for _, c := range chunk {
			if inQuote {
				switch c {
				case '"':
					inQuote, afterClose = false, true
				case '\n':
					physNL++
				}
				prev = c
				continue
			}
			if afterClose && c == '"' {
				inQuote, afterClose = true, false
				prev = c
				continue
			}
			afterClose = false
			switch c {
			case '\n':
				physNL++
				duckNL++
				switch {
				case !lineStart:
					// The header's ending counts too: DuckDB takes the file's line
					// ending from it.
					header = false
					if prev == '\r' {
						s.crlf++
					} else {
						s.lf++
					}
				case prev == '\r':
					s.blankCRLF++
				default:
					s.blankLF++
				}
				lineStart, fieldStart = true, true
			case '\r':
				// Part of a line ending, or of a field: neither starts a record.
			case '"':
				if lineStart {
					startRecord()
				}
				if fieldStart {
					inQuote = true
				}
				fieldStart = false
			case ',':
				if lineStart {
					startRecord()
				}
				fieldStart = true
			default:
				if lineStart {
					startRecord()
				}
				fieldStart = false
			}
			prev = c
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if len(carry) > 0 && s.validUTF8 {
		s.validUTF8 = false
		s.badLine = physNL + 1
	}
	if len(s.breaks) == 0 {
		s.breaks = []breakpoint{{j: 1}}
	}
	return s, nil
}
