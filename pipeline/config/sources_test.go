package config_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/outcomes/outcomes/pipeline/config"
	"github.com/outcomes/outcomes/schemas"
)

func TestSourcesDefaults(t *testing.T) {
	c := mustLoad(t, minimal)
	got := c.SourceFormat(schemas.SourceAttendance)
	want := config.Format{Layout: config.LayoutLong, DateFormat: config.DateISO}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("default attendance format %+v, want %+v", got, want)
	}
}

func TestSourcesReadsMappingLayoutDatesEncoding(t *testing.T) {
	c := mustLoad(t, minimal+`
[sources.attendance]
layout = "wide"
date_format = "dd/mm/yyyy"
encoding = "Windows-1252"
columns = { "Pupil UPN" = "upn", "Date" = "session_date", "AM" = "am_mark", "PM" = "pm_mark", "URN" = "school_urn" }

[sources.participation]
date_format = "dd-mon-yyyy"
[sources.participation.columns]
"NHS No." = "nhs_number"
`)
	att := c.SourceFormat(schemas.SourceAttendance)
	if att.Layout != "wide" || att.DateFormat != "dd/mm/yyyy" || att.Encoding != "windows-1252" || att.Columns["Pupil UPN"] != "upn" || len(att.Columns) != 5 {
		t.Errorf("attendance format %+v", att)
	}
	if p := c.SourceFormat(schemas.SourceParticipation); p.DateFormat != "dd-mon-yyyy" || p.Columns["NHS No."] != "nhs_number" || p.Layout != "long" {
		t.Errorf("participation format %+v", p)
	}
}

// TestSourcesValidation checks that each mistake comes back naming its key,
// its value and what was expected.
func TestSourcesValidation(t *testing.T) {
	tests := []struct {
		name, toml string
		want       []string
	}{
		{"unknown source", `[sources.attendence]
layout = "long"`, []string{"sources.attendence: is not a source"}},
		{"unknown layout", `[sources.attendance]
layout = "sideways"`, []string{`sources.attendance.layout = "sideways": must be "long"`}},
		{"wide roster", `[sources.roster]
layout = "wide"`, []string{`sources.roster.layout = "wide": only attendance extracts can be wide`}},
		{"unknown date format", `[sources.attendance]
date_format = "mm/dd/yyyy"`, []string{`sources.attendance.date_format = "mm/dd/yyyy": must be "iso", "dd/mm/yyyy" or "dd-mon-yyyy"`}},
		{"roster dates", `[sources.roster]
date_format = "dd/mm/yyyy"`, []string{`sources.roster.date_format = "dd/mm/yyyy": the roster has no dates that are read`}},
		{"unknown encoding", `[sources.roster]
encoding = "latin-1"`, []string{`sources.roster.encoding = "latin-1": must be "utf-8" or "windows-1252"`}},
		{"unknown target", `[sources.attendance]
columns = { "Pupil UPN" = "pupil_upn" }`, []string{`sources.attendance.columns."Pupil UPN" = "pupil_upn": is not a column of the long attendance contract (expected one of school_urn, upn, session_date, session, mark)`}},
		{"session in a wide file", `[sources.attendance]
layout = "wide"
columns = { "Session" = "session" }`, []string{`sources.attendance.columns."Session" = "session": is not a column of the wide attendance contract (expected one of school_urn, upn, session_date, am_mark, pm_mark)`}},
		{"two headers to one column", `[sources.roster]
columns = { "UPN" = "upn", "Pupil UPN" = "upn" }`, []string{`sources.roster.columns."UPN" = "upn": is also mapped from "Pupil UPN"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Load(strings.NewReader(minimal+"\n"+tt.toml+"\n"), "/trust")
			if err == nil {
				t.Fatal("Load accepted it")
			}
			errs := configErrors(err)
			if len(errs) != len(tt.want) {
				t.Fatalf("got %d errors (%v), want %d", len(errs), err, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(errs[i].Error(), w) {
					t.Errorf("error %q, want it to start %q", errs[i].Error(), w)
				}
			}
		})
	}
}

func TestSourcesUnknownKeyNamed(t *testing.T) {
	_, err := config.Load(strings.NewReader(minimal+"\n[sources.attendance]\ndate_fromat = \"iso\"\n"), "/trust")
	if err == nil || !strings.Contains(err.Error(), "unknown key sources.attendance.date_fromat") {
		t.Fatalf("got %v, want the unknown key named", err)
	}
}

// TestSourcesPerFile: a trust whose schools use different MIS gives one
// attendance file its own format, over the source's.
func TestSourcesPerFile(t *testing.T) {
	c := mustLoad(t, strings.Replace(minimal, `attendance = ["attendance.csv"]`, `attendance = ["sims.csv", "arbor.csv"]`, 1)+`
[sources.attendance]
date_format = "dd/mm/yyyy"
columns = { "Date" = "session_date" }

[sources.attendance.files."arbor.csv"]
layout = "wide"
encoding = "windows-1252"
columns = { "Date" = "session_date", "AM" = "am_mark", "PM" = "pm_mark" }
`)
	sims := c.FileFormat(schemas.SourceAttendance, "sims.csv")
	arbor := c.FileFormat(schemas.SourceAttendance, "arbor.csv")
	if sims.Layout != "long" || sims.DateFormat != "dd/mm/yyyy" || len(sims.Columns) != 1 || sims.Encoding != "" || sims.Files != nil {
		t.Errorf("sims format %+v", sims)
	}
	if arbor.Layout != "wide" || arbor.DateFormat != "dd/mm/yyyy" || arbor.Columns["AM"] != "am_mark" || arbor.Encoding != "windows-1252" {
		t.Errorf("arbor format %+v", arbor)
	}
	_, err := config.Load(strings.NewReader(minimal+`
[sources.attendance.files."other.csv"]
layout = "wide"
`), "/trust")
	if err == nil || !strings.Contains(err.Error(), `sources.attendance.files."other.csv": names no file of inputs.attendance`) {
		t.Errorf("got %v, want the unknown file named", err)
	}
	// A wide file that inherits a long mapping's session column is caught.
	_, err = config.Load(strings.NewReader(minimal+`
[sources.attendance]
columns = { "Session Name" = "session" }
[sources.attendance.files."attendance.csv"]
layout = "wide"
`), "/trust")
	if err == nil || !strings.Contains(err.Error(), `sources.attendance.files."attendance.csv".columns."Session Name" = "session": is not a column of the wide attendance contract`) {
		t.Errorf("got %v, want the inherited column named", err)
	}
}
