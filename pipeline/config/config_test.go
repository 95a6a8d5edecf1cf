package config_test

import (
	"bytes"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/outcomes/outcomes/pipeline/config"
)

// minimal sets only the required keys, so every default is filled.
const minimal = `
[run]
state_dir = "state"
output_dir = "out"
key_file = "key"

[inputs]
roster = "roster.csv"
attendance = ["attendance.csv"]

[trust]
id = "TR0002"
name = "Minimal Trust"

[[schools]]
urn = "100001"
name = "Only School"

# 2024-09-02 (Mon) to 2024-12-20 (Fri): 15 full weeks and 5 days, 80 weekdays.
[[terms]]
name = "Autumn term"
academic_year = "202425"
start = "2024-09-02"
end = "2024-12-20"

[privacy]
epsilon = 1.0
epsilon_cap = 5.0
`

const validFile = "testdata/valid.toml"

func readValid(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(validFile)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mustLoad(t *testing.T, text string) *config.Config {
	t.Helper()
	c, err := config.Load(strings.NewReader(text), "/trust")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c
}

// edit replaces old, which must occur exactly once in the base text, by new.
type edit struct{ old, new string }

func edited(t *testing.T, base string, edits ...edit) string {
	t.Helper()
	for _, e := range edits {
		if n := strings.Count(base, e.old); n != 1 {
			t.Fatalf("edit %q matches %d times in the base config; it must match once", e.old, n)
		}
		base = strings.Replace(base, e.old, e.new, 1)
	}
	return base
}

// configErrors flattens the *config.Error values in err's tree.
func configErrors(err error) []*config.Error {
	var out []*config.Error
	var walk func(error)
	walk = func(e error) {
		switch x := e.(type) {
		case *config.Error:
			out = append(out, x)
		case interface{ Unwrap() []error }:
			for _, inner := range x.Unwrap() {
				walk(inner)
			}
		case interface{ Unwrap() error }:
			walk(x.Unwrap())
		}
	}
	walk(err)
	return out
}

func TestLoadFillsDefaults(t *testing.T) {
	c := mustLoad(t, minimal)
	equalWeights := map[string]float64{}
	for _, m := range config.Measures {
		equalWeights[m] = 1
	}
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"run.schedule", c.Run.Schedule, "30 2 * * *"},
		{"run.max_reject_share", c.Run.MaxRejectShare, 0.05},
		{"privacy.max_programmes_per_pupil", c.Privacy.MaxProgrammesPerPupil, 1},
		{"privacy.weights", c.Privacy.Weights, equalWeights},
		{"privacy.delta", c.Privacy.Delta, 0.0},
		{"publish.rounding_base", c.Publish.RoundingBase, 5},
		{"publish.suppress_below", c.Publish.SuppressBelow, 10},
		{"publish.levels", c.Publish.Levels, []string{config.LevelMAT, config.LevelSchool}},
		{"duckdb.memory_limit", c.DuckDB.MemoryLimit, "2.5GB"},
		{"duckdb.threads", c.DuckDB.Threads, 2},
		{"terms[0].school_days from weekdays", c.Terms[0].SchoolDays, 80},
		{"terms[0] max sessions", c.Terms[0].MaxSessions(), int64(160)},
		{"terms[0] start", c.Terms[0].StartDate(), time.Date(2024, 9, 2, 0, 0, 0, 0, time.UTC)},
		{"terms[0] end", c.Terms[0].EndDate(), time.Date(2024, 12, 20, 0, 0, 0, 0, time.UTC)},
		{"dir", c.Dir, "/trust"},
		{"has level MAT", c.HasLevel(config.LevelMAT), true},
		{"has level School", c.HasLevel(config.LevelSchool), true},
		// No programmes: no impact table.
		{"impact.share without programmes", c.Impact.Share, 0.0},
		{"impact enabled", c.ImpactEnabled(), false},
		{"impact.window_sessions", c.Impact.WindowSessions, 60},
		{"impact.min_window_sessions", c.Impact.MinWindowSessions, 30},
		{"impact.max_change_pp", c.Impact.MaxChangePP, 30},
		{"impact.baseline_bands", c.Impact.BaselineBands, []float64{10, 20}},
		{"impact.min_baseline_sessions", c.Impact.MinBaselineSessions, 10},
		{"impact.min_stratum_pupils", c.Impact.MinStratumPupils, 20},
		{"impact.period", c.Impact.Period, config.PeriodAcademicYear},
	}
	for _, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("%s = %#v, want %#v", tt.name, tt.got, tt.want)
		}
	}
}

func TestLoadComputesSchoolDaysFromWeekdays(t *testing.T) {
	tests := []struct {
		start, end string
		want       int
	}{
		{"2024-09-02", "2024-12-20", 80}, // Mon to Fri, 16 weeks
		{"2024-09-02", "2024-09-02", 1},  // one Monday
		{"2024-09-06", "2024-09-09", 2},  // Fri, Sat, Sun, Mon
		{"2025-01-06", "2025-04-04", 65}, // Mon to Fri across February
		{"2024-02-26", "2024-03-01", 5},  // leap day inside (academic year 202324)
	}
	for _, tt := range tests {
		year := "202425"
		if tt.start < "2024-08-01" {
			year = "202324"
		}
		text := edited(t, minimal,
			edit{`start = "2024-09-02"`, `start = "` + tt.start + `"`},
			edit{`end = "2024-12-20"`, `end = "` + tt.end + `"`},
			edit{`academic_year = "202425"`, `academic_year = "` + year + `"`})
		c := mustLoad(t, text)
		if got := c.Terms[0].SchoolDays; got != tt.want {
			t.Errorf("%s..%s: school_days = %d, want %d", tt.start, tt.end, got, tt.want)
		}
	}
}

func TestLoadKeepsExplicitValues(t *testing.T) {
	c := mustLoad(t, readValid(t))
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"run.state_dir", c.Run.StateDir, "state"},
		{"run.output_dir", c.Run.OutputDir, "/srv/outcomes/releases"},
		{"run.key_file", c.Run.KeyFile, "secrets/pipeline.key"},
		{"run.schedule", c.Run.Schedule, "0 3 * * 1-5"},
		{"run.max_reject_share", c.Run.MaxRejectShare, 0.02},
		{"inputs.roster", c.Inputs.Roster, "data/roster.csv"},
		{"inputs.attendance", c.Inputs.Attendance, []string{"data/attendance-autumn.csv", "data/attendance-spring.csv"}},
		{"inputs.participation", c.Inputs.Participation, []string{"data/participation.csv"}},
		{"trust", c.Trust, config.Trust{ID: "TR0001", Name: "Five Rivers Learning Trust"}},
		{"schools", c.Schools, []config.School{
			{URN: "900001", Name: "Ashgrove Primary School", LAESTAB: "3732001", OldLACode: "373", NewLACode: "E08000019", LAName: "Sheffield"},
			{URN: "900002", Name: "Millstone Academy", LAESTAB: "3722002", OldLACode: "372", NewLACode: "E08000018", LAName: "Rotherham"},
		}},
		{"terms", len(c.Terms), 2},
		{"terms[0].school_days", c.Terms[0].SchoolDays, 78},
		{"terms[1].school_days", c.Terms[1].SchoolDays, 61},
		{"terms[1].name", c.Terms[1].Name, "Spring term"},
		{"terms[1] start", c.Terms[1].StartDate(), time.Date(2025, 1, 6, 0, 0, 0, 0, time.UTC)},
		{"terms[1] end", c.Terms[1].EndDate(), time.Date(2025, 4, 4, 0, 0, 0, 0, time.UTC)},
		{"programmes", c.Programmes, []config.Programme{
			{ID: "mhst", Name: "Mental health support team", Schools: []string{"900001"}, YearGroups: []int{5, 6}},
			{ID: "healthy-eating", Name: "Healthy eating programme"},
		}},
		{"privacy.epsilon", c.Privacy.Epsilon, 2.0},
		{"privacy.max_programmes_per_pupil", c.Privacy.MaxProgrammesPerPupil, 2},
		{"privacy.epsilon_cap", c.Privacy.EpsilonCap, 20.0},
		{"privacy.weights", c.Privacy.Weights, map[string]float64{
			"pupils": 1, "possible_sessions": 1, "authorised_absence": 2, "unauthorised_absence": 2, "persistent_absentees": 2,
		}},
		{"publish", c.Publish, config.Publish{Policy: "dfe", RoundingBase: 10, SuppressBelow: 5, Levels: []string{"MAT"}}},
		{"has level School", c.HasLevel(config.LevelSchool), false},
		{"duckdb", c.DuckDB, config.DuckDB{MemoryLimit: "1GB", Threads: 4}},
		{"impact", c.Impact, config.Impact{Share: 0.4, WindowSessions: 50, MinWindowSessions: 20, MaxChangePP: 25,
			BaselineBands: []float64{5, 15, 30}, MinBaselineSessions: 12, MinStratumPupils: 15,
			Breakdowns: []string{"fsm", "year_group"}, YearGroups: []int{7, 8, 9}, Period: "financial_year"}},
		{"impact enabled", c.ImpactEnabled(), true},
	}
	for _, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("%s = %#v, want %#v", tt.name, tt.got, tt.want)
		}
	}
}

func TestLoadFileResolvesPathsAgainstItsFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "trust")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "pipeline.toml")
	if err := os.WriteFile(path, []byte(readValid(t)), 0o644); err != nil {
		t.Fatal(err)
	}
	// Load through a relative path from elsewhere, then move again: Dir must
	// be absolute and be the file's folder, not the working directory.
	t.Chdir(filepath.Dir(dir))
	c, err := config.LoadFile(filepath.Join("trust", "pipeline.toml"))
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir())

	if c.Dir != dir {
		t.Errorf("Dir = %q, want %q", c.Dir, dir)
	}
	tests := []struct{ in, want string }{
		{c.Inputs.Roster, filepath.Join(dir, "data", "roster.csv")},
		{c.Inputs.Attendance[1], filepath.Join(dir, "data", "attendance-spring.csv")},
		{c.Run.StateDir, filepath.Join(dir, "state")},
		{c.Run.KeyFile, filepath.Join(dir, "secrets", "pipeline.key")},
		{c.Run.OutputDir, "/srv/outcomes/releases"}, // absolute: unchanged
		{"../shared/key", filepath.Join(filepath.Dir(dir), "shared", "key")},
		{"", ""},
	}
	for _, tt := range tests {
		if got := c.Path(tt.in); got != tt.want {
			t.Errorf("Path(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestLoadFileErrors(t *testing.T) {
	t.Run("missing file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "nope.toml")
		_, err := config.LoadFile(path)
		var fe *config.FileError
		if !errors.As(err, &fe) || fe.Path != path {
			t.Fatalf("err = %v, want a *FileError for %s", err, path)
		}
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("err = %v, want it to wrap fs.ErrNotExist", err)
		}
	})
	t.Run("invalid file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "pipeline.toml")
		text := edited(t, readValid(t), edit{`epsilon = 2.0`, `epsilon = -2.0`})
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := config.LoadFile(path)
		var fe *config.FileError
		if !errors.As(err, &fe) || fe.Path != path {
			t.Fatalf("err = %v, want a *FileError for %s", err, path)
		}
		if errs := configErrors(err); len(errs) != 1 || errs[0].Key != "privacy.epsilon" {
			t.Errorf("config errors = %v, want one for privacy.epsilon", errs)
		}
		if want := "config " + path + ": privacy.epsilon = -2: "; !strings.HasPrefix(err.Error(), want) {
			t.Errorf("message %q does not start with %q", err, want)
		}
	})
	t.Run("not TOML", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "pipeline.toml")
		if err := os.WriteFile(path, []byte("[run]\nstate_dir = \"state\nkey_file = 1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := config.LoadFile(path)
		var fe *config.FileError
		if !errors.As(err, &fe) {
			t.Fatalf("err = %v, want a *FileError", err)
		}
		if !strings.Contains(err.Error(), "read config") || !strings.Contains(err.Error(), "line 2") {
			t.Errorf("message %q should say it could not read the config and name line 2", err)
		}
	})
}

func TestLoadRejectsUnknownKeys(t *testing.T) {
	tests := []struct {
		name string
		edit edit
		key  string
	}{
		{"top level", edit{"[run]", "bogus = 1\n[run]"}, "bogus"},
		{"misspelt table", edit{"[publish]", "[publsh]"}, "publsh"},
		{"run", edit{`schedule = "0 3 * * 1-5"`, `schedul = "0 3 * * 1-5"`}, "run.schedul"},
		{"privacy", edit{"epsilon = 2.0", "epsilom = 2.0"}, "privacy.epsilom"},
		{"privacy.delta", edit{"delta = 0.0", "detla = 0.0"}, "privacy.detla"},
		{"schools array", edit{`la_name = "Rotherham"`, `la_nmae = "Rotherham"`}, "schools.la_nmae"},
		{"terms array", edit{"school_days = 61", "schooldays = 61"}, "terms.schooldays"},
		{"duckdb", edit{"threads = 4", "thread = 4"}, "duckdb.thread"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Load(strings.NewReader(edited(t, readValid(t), tt.edit)), "/trust")
			if err == nil {
				t.Fatalf("Load accepted unknown key %s", tt.key)
			}
			if msg := err.Error(); !strings.Contains(msg, "unknown key "+tt.key) {
				t.Errorf("message %q does not name unknown key %s", msg, tt.key)
			}
		})
	}
}

// TestLoadValidates breaks the valid file in one place per case and checks
// that exactly the expected errors come back, each naming its key and value:
// want holds the start of each message, up to the reason.
func TestLoadValidates(t *testing.T) {
	tests := []struct {
		name  string
		edits []edit
		want  []string
	}{
		{"valid as is", nil, nil},

		{"state_dir missing", []edit{{`state_dir = "state"`, `state_dir = " "`}}, []string{"run.state_dir"}},
		{"key_file missing", []edit{{`key_file = "secrets/pipeline.key"`, ""}}, []string{"run.key_file"}},
		{"max_reject_share one", []edit{{"max_reject_share = 0.02", "max_reject_share = 1.0"}}, []string{"run.max_reject_share = 1"}},
		{"max_reject_share negative", []edit{{"max_reject_share = 0.02", "max_reject_share = -0.1"}}, []string{"run.max_reject_share = -0.1"}},
		{"cron too few fields", []edit{{`schedule = "0 3 * * 1-5"`, `schedule = "0 3 * *"`}}, []string{`run.schedule = "0 3 * *"`}},
		{"cron minute out of range", []edit{{`schedule = "0 3 * * 1-5"`, `schedule = "61 3 * * *"`}}, []string{`run.schedule = "61 3 * * *"`}},
		{"cron unknown descriptor", []edit{{`schedule = "0 3 * * 1-5"`, `schedule = "@fortnightly"`}}, []string{`run.schedule = "@fortnightly"`}},
		{"cron seconds accepted", []edit{{`schedule = "0 3 * * 1-5"`, `schedule = "*/5 * * * * *"`}}, nil},
		{"cron descriptor accepted", []edit{{`schedule = "0 3 * * 1-5"`, `schedule = "@daily"`}}, nil},
		{"roster missing", []edit{{`roster = "data/roster.csv"`, ""}}, []string{"inputs.roster"}},
		{"no attendance", []edit{{`attendance = ["data/attendance-autumn.csv", "data/attendance-spring.csv"]`, "attendance = []"}}, []string{"inputs.attendance"}},
		{"trust id missing", []edit{{`id = "TR0001"`, `id = ""`}}, []string{"trust.id"}},

		{"urn with a letter", []edit{{`urn = "900002"`, `urn = "90000A"`}}, []string{`schools[1].urn = "90000A"`}},
		{"urn seven digits", []edit{{`urn = "900002"`, `urn = "9000021"`}}, []string{`schools[1].urn = "9000021"`}},
		{"duplicate urn", []edit{{`urn = "900002"`, `urn = "900001"`}}, []string{"schools[1].urn = 900001"}},
		{"school name missing", []edit{{`name = "Millstone Academy"`, ""}}, []string{"schools[1].name"}},
		{"laestab six digits", []edit{{`laestab = "3722002"`, `laestab = "372200"`}}, []string{`schools[1].laestab = "372200"`}},
		{"laestab with a slash", []edit{{`laestab = "3732001"`, `laestab = "373/2001"`}}, []string{`schools[0].laestab = "373/2001"`}},
		{"old la code letters", []edit{{`old_la_code = "372"`, `old_la_code = "37X"`}}, []string{`schools[1].old_la_code = "37X"`}},
		{"new la code without E", []edit{{`new_la_code = "E08000018"`, `new_la_code = "08000018"`}}, []string{`schools[1].new_la_code = "08000018"`}},
		{"new la code Scottish", []edit{{`new_la_code = "E08000018"`, `new_la_code = "S12000036"`}}, []string{`schools[1].new_la_code = "S12000036"`}},
		{"la codes optional", []edit{{`laestab = "3722002"`, ""}, {`old_la_code = "372"`, ""}, {`new_la_code = "E08000018"`, ""}}, nil},

		{"term name lower case", []edit{{`name = "Spring term"`, `name = "spring term"`}}, []string{`terms[1].name = "spring term"`}},
		{"term name not a term", []edit{{`name = "Spring term"`, `name = "Easter"`}}, []string{`terms[1].name = "Easter"`}},
		{"academic year not consecutive", []edit{{"academic_year = \"202425\"\nstart = \"2025-01-06\"", "academic_year = \"202426\"\nstart = \"2025-01-06\""}},
			[]string{`terms[1].academic_year = "202426"`}},
		{"academic year with a dash", []edit{{"academic_year = \"202425\"\nstart = \"2025-01-06\"", "academic_year = \"2024-25\"\nstart = \"2025-01-06\""}},
			[]string{`terms[1].academic_year = "2024-25"`}},
		{"academic year short", []edit{{"academic_year = \"202425\"\nstart = \"2025-01-06\"", "academic_year = \"2425\"\nstart = \"2025-01-06\""}},
			[]string{`terms[1].academic_year = "2425"`}},
		{"academic year over a century", []edit{{"academic_year = \"202425\"\nstart = \"2025-01-06\"", "academic_year = \"209900\"\nstart = \"2025-01-06\""}}, []string{"terms[1] = 2025-01-06 to 2025-04-04"}},
		{"term outside its academic year", []edit{{"academic_year = \"202425\"\nstart = \"2025-01-06\"", "academic_year = \"202526\"\nstart = \"2025-01-06\""}}, []string{"terms[1] = 2025-01-06 to 2025-04-04"}},
		{"start not a date", []edit{{`start = "2025-01-06"`, `start = "06/01/2025"`}}, []string{`terms[1].start = "06/01/2025"`}},
		{"end not a date", []edit{{`end = "2025-04-04"`, `end = "2025-04-31"`}}, []string{`terms[1].end = "2025-04-31"`}},
		{"start without leading zeros", []edit{{`start = "2025-01-06"`, `start = "2025-1-6"`}}, []string{`terms[1].start = "2025-1-6"`}},
		{"start missing", []edit{{`start = "2025-01-06"`, ""}}, []string{`terms[1].start = ""`}},
		{"end before start", []edit{{`end = "2025-04-04"`, `end = "2025-01-03"`}},
			// No weekdays remain, so the declared school_days is too many as well.
			[]string{"terms[1].end = 2025-01-03", "terms[1].school_days = 61"}},
		{"term of 192 days", []edit{{`end = "2025-04-04"`, `end = "2025-07-16"`}}, nil},
		{"term of 193 days", []edit{{`end = "2025-04-04"`, `end = "2025-07-17"`}}, []string{"terms[1] = 2025-01-06 to 2025-07-17"}},
		{"school_days more than weekdays", []edit{{"school_days = 61", "school_days = 66"}}, []string{"terms[1].school_days = 66"}},
		{"school_days equal to weekdays", []edit{{"school_days = 61", "school_days = 65"}}, nil},
		{"school_days negative", []edit{{"school_days = 61", "school_days = -1"}}, []string{"terms[1].school_days = -1"}},
		{"overlapping terms", []edit{{`start = "2025-01-06"`, `start = "2024-12-20"`}}, []string{"terms[1] = Spring term 202425"}},
		{"adjacent terms", []edit{{`start = "2025-01-06"`, `start = "2024-12-21"`}}, nil},
		{"term twice", []edit{{`name = "Spring term"`, `name = "Autumn term"`}}, []string{"terms[1] = Autumn term 202425"}},

		{"duplicate programme id", []edit{{`id = "healthy-eating"`, `id = "mhst"`}}, []string{"programmes[1].id = mhst"}},
		{"programme id total", []edit{{`id = "healthy-eating"`, `id = "total"`}}, []string{`programmes[1].id = "total"`}},
		{"programme id upper case", []edit{{`id = "healthy-eating"`, `id = "Healthy-Eating"`}}, []string{`programmes[1].id = "Healthy-Eating"`}},
		{"programme id with a space", []edit{{`id = "healthy-eating"`, `id = "healthy eating"`}}, []string{`programmes[1].id = "healthy eating"`}},
		{"programme name missing", []edit{{`name = "Healthy eating programme"`, ""}}, []string{"programmes[1].name"}},

		{"epsilon zero", []edit{{"epsilon = 2.0", "epsilon = 0.0"}}, []string{"privacy.epsilon = 0"}},
		{"epsilon negative", []edit{{"epsilon = 2.0", "epsilon = -1.0"}}, []string{"privacy.epsilon = -1"}},
		{"epsilon missing", []edit{{"epsilon = 2.0", ""}}, []string{"privacy.epsilon = 0"}},
		{"epsilon over 100", []edit{{"epsilon = 2.0", "epsilon = 101.0"}, {"epsilon_cap = 20.0", "epsilon_cap = 200.0"}}, []string{"privacy.epsilon = 101"}},
		{"epsilon nan", []edit{{"epsilon = 2.0", "epsilon = nan"}}, []string{"privacy.epsilon = NaN"}},
		{"delta positive", []edit{{"delta = 0.0", "delta = 0.00001"}}, []string{"privacy.delta = 1e-05"}},
		{"epsilon_cap below epsilon", []edit{{"epsilon_cap = 20.0", "epsilon_cap = 1.5"}}, []string{"privacy.epsilon_cap = 1.5"}},
		{"epsilon_cap equal to epsilon", []edit{{"epsilon_cap = 20.0", "epsilon_cap = 2.0"}}, nil},
		{"epsilon_cap missing", []edit{{"epsilon_cap = 20.0", ""}}, []string{"privacy.epsilon_cap = 0"}},
		{"weight missing", []edit{{"pupils = 1.0\n", ""}}, []string{"privacy.weights.pupils = 0"}},
		{"weight zero", []edit{{"persistent_absentees = 2.0", "persistent_absentees = 0.0"}}, []string{"privacy.weights.persistent_absentees = 0"}},
		{"weight negative", []edit{{"\nauthorised_absence = 2.0", "\nauthorised_absence = -2.0"}}, []string{"privacy.weights.authorised_absence = -2"}},
		{"weight for an unknown measure", []edit{{"pupils = 1.0\n", "pupils = 1.0\npupil = 1.0\n"}}, []string{"privacy.weights.pupil"}},
		{"max_programmes_per_pupil above programmes", []edit{{"max_programmes_per_pupil = 2", "max_programmes_per_pupil = 3"}}, []string{"privacy.max_programmes_per_pupil = 3"}},
		{"max_programmes_per_pupil negative", []edit{{"max_programmes_per_pupil = 2", "max_programmes_per_pupil = -1"}}, []string{"privacy.max_programmes_per_pupil = -1"}},
		{"max_programmes_per_pupil one", []edit{{"max_programmes_per_pupil = 2", "max_programmes_per_pupil = 1"}}, nil},

		{"level unknown", []edit{{`levels = ["MAT"]`, `levels = ["LA"]`}}, []string{`publish.levels[0] = "LA"`}},
		{"level lower case", []edit{{`levels = ["MAT"]`, `levels = ["School", "mat"]`}}, []string{`publish.levels[1] = "mat"`}},
		{"level twice", []edit{{`levels = ["MAT"]`, `levels = ["MAT", "MAT"]`}}, []string{`publish.levels[1] = "MAT"`}},
		{"both levels", []edit{{`levels = ["MAT"]`, `levels = ["School", "MAT"]`}}, nil},
		{"rounding_base negative", []edit{{"rounding_base = 10", "rounding_base = -5"}}, []string{"publish.rounding_base = -5"}},
		{"suppress_below negative", []edit{{"suppress_below = 5", "suppress_below = -1"}}, []string{"publish.suppress_below = -1"}},
		{"threads negative", []edit{{"threads = 4", "threads = -1"}}, []string{"duckdb.threads = -1"}},

		{"impact share one", []edit{{"share = 0.4", "share = 1.0"}}, []string{"impact.share = 1"}},
		{"impact share negative", []edit{{"share = 0.4", "share = -0.1"}}, []string{"impact.share = -0.1"}},
		{"impact share zero turns it off", []edit{{"share = 0.4", "share = 0.0"}}, nil},
		{"impact window one session", []edit{{"window_sessions = 50", "window_sessions = 1"}}, []string{"impact.window_sessions = 1", "impact.min_window_sessions = 20"}},
		{"impact min window above window", []edit{{"min_window_sessions = 20", "min_window_sessions = 51"}}, []string{"impact.min_window_sessions = 51"}},
		{"impact max change zero", []edit{{"max_change_pp = 25", "max_change_pp = -1"}}, []string{"impact.max_change_pp = -1"}},
		{"impact max change over 100", []edit{{"max_change_pp = 25", "max_change_pp = 101"}}, []string{"impact.max_change_pp = 101"}},
		{"impact bands not increasing", []edit{{"baseline_bands = [5.0, 15.0, 30.0]", "baseline_bands = [5.0, 30.0, 15.0]"}}, []string{"impact.baseline_bands[2] = 15"}},
		{"impact band at 100", []edit{{"baseline_bands = [5.0, 15.0, 30.0]", "baseline_bands = [5.0, 100.0]"}}, []string{"impact.baseline_bands[1] = 100"}},
		{"impact no bands", []edit{{"baseline_bands = [5.0, 15.0, 30.0]", "baseline_bands = []"}}, nil},
		{"impact min stratum zero", []edit{{"min_stratum_pupils = 15", "min_stratum_pupils = 0"}}, []string{"impact.min_stratum_pupils = 0"}},
		{"impact unknown breakdown", []edit{{`breakdowns = ["fsm", "year_group"]`, `breakdowns = ["fsm", "ethnicity"]`}}, []string{`impact.breakdowns[1] = "ethnicity"`}},
		{"impact breakdown twice", []edit{{`breakdowns = ["fsm", "year_group"]`, `breakdowns = ["fsm", "fsm"]`}}, []string{`impact.breakdowns[1] = "fsm"`}},
		{"impact year groups missing", []edit{{"year_groups = [7, 8, 9]", ""}}, []string{"impact.year_groups"}},
		{"impact year group out of range", []edit{{"year_groups = [7, 8, 9]", "year_groups = [7, 15]"}}, []string{"impact.year_groups[1] = 15"}},
		{"impact year group twice", []edit{{"year_groups = [7, 8, 9]", "year_groups = [7, 7]"}}, []string{"impact.year_groups[1] = 7"}},
		{"impact period unknown", []edit{{`period = "financial_year"`, `period = "calendar_year"`}}, []string{`impact.period = "calendar_year"`}},
		{"impact period term", []edit{{`period = "financial_year"`, `period = "term"`}}, nil},
		{"programme school not configured", []edit{{`schools = ["900001"]`, `schools = ["900009"]`}}, []string{`programmes[0].schools[0] = "900009"`}},
		{"programme school twice", []edit{{`schools = ["900001"]`, `schools = ["900002", "900002"]`}}, []string{`programmes[0].schools[1] = "900002"`}},
		{"programme year group out of range", []edit{{`year_groups = [5, 6]`, `year_groups = [5, 15]`}}, []string{`programmes[0].year_groups[1] = 15`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Load(strings.NewReader(edited(t, readValid(t), tt.edits...)), "/trust")
			checkErrors(t, err, tt.want)
		})
	}
}

// checkErrors asserts that err holds exactly one *config.Error per entry of
// want, each message starting with that entry followed by ": ".
func checkErrors(t *testing.T, err error, want []string) {
	t.Helper()
	if len(want) == 0 {
		if err != nil {
			t.Fatalf("Load: %v, want no error", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("Load accepted the config, want errors %q", want)
	}
	errs := configErrors(err)
	var got []string
	for _, e := range errs {
		got = append(got, e.Error())
	}
	unmatched := append([]string(nil), got...)
	for _, w := range want {
		found := false
		for i, g := range unmatched {
			if strings.HasPrefix(g, w+": ") {
				unmatched = append(unmatched[:i], unmatched[i+1:]...)
				found = true
				break
			}
		}
		if !found {
			t.Errorf("no error starting %q; got %q", w+": ", got)
		}
	}
	if len(unmatched) > 0 {
		t.Errorf("unexpected errors %q", unmatched)
	}
	for _, g := range got {
		if !strings.Contains(err.Error(), g) {
			t.Errorf("Error() %q leaves out %q", err, g)
		}
	}
}

func TestLoadRequiresSchoolsAndTerms(t *testing.T) {
	// Drop every [[schools]] and [[terms]] table from the valid file.
	var kept []string
	skip := false
	for _, line := range strings.Split(readValid(t), "\n") {
		if strings.HasPrefix(line, "[") {
			skip = line == "[[schools]]" || line == "[[terms]]"
		}
		if !skip {
			kept = append(kept, line)
		}
	}
	_, err := config.Load(strings.NewReader(strings.Join(kept, "\n")), "/trust")
	checkErrors(t, err, []string{"schools", "terms"})
}

func TestLoadReportsEveryError(t *testing.T) {
	text := edited(t, readValid(t),
		edit{`schedule = "0 3 * * 1-5"`, `schedule = "every night"`},
		edit{`urn = "900002"`, `urn = "12345"`},
		edit{"academic_year = \"202425\"\nstart = \"2025-01-06\"", "academic_year = \"202426\"\nstart = \"2025-01-06\""},
		edit{`id = "healthy-eating"`, `id = "total"`},
		edit{"epsilon = 2.0", "epsilon = 0.0"},
		edit{"delta = 0.0", "delta = 0.1"},
		edit{`levels = ["MAT"]`, `levels = ["Region"]`},
	)
	_, err := config.Load(strings.NewReader(text), "/trust")
	checkErrors(t, err, []string{
		`run.schedule = "every night"`,
		`schools[1].urn = "12345"`,
		`terms[1].academic_year = "202426"`,
		`programmes[1].id = "total"`,
		"privacy.epsilon = 0",
		"privacy.delta = 0.1",
		`publish.levels[0] = "Region"`,
	})
	// errors.Join puts one error on each line.
	if n := strings.Count(err.Error(), "\n") + 1; n != 7 {
		t.Errorf("Error() has %d lines, want 7:\n%s", n, err)
	}
}

func TestErrorMessage(t *testing.T) {
	tests := []struct {
		err  config.Error
		want string
	}{
		{config.Error{Key: "trust.id", Reason: "is required"}, "trust.id: is required"},
		{config.Error{Key: "privacy.epsilon", Value: -1.5, Reason: "must be greater than 0"}, "privacy.epsilon = -1.5: must be greater than 0"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

func TestMaxPartitions(t *testing.T) {
	terms := func(n int) []config.Term { return make([]config.Term, n) }
	tests := []struct {
		name          string
		levels        []string
		terms         int
		maxProgrammes int
		want          int64
	}{
		{"both levels, three terms, one programme", []string{"MAT", "School"}, 3, 1, 2 * 3 * 2},
		{"MAT only, three terms, one programme", []string{"MAT"}, 3, 1, 1 * 3 * 2},
		{"both levels, one term, three programmes", []string{"MAT", "School"}, 1, 3, 2 * 1 * 4},
		{"School only, two terms, two programmes", []string{"School"}, 2, 2, 1 * 2 * 3},
	}
	for _, tt := range tests {
		c := &config.Config{Terms: terms(tt.terms), Publish: config.Publish{Levels: tt.levels},
			Privacy: config.Privacy{MaxProgrammesPerPupil: tt.maxProgrammes}}
		if got := c.MaxPartitions(); got != tt.want {
			t.Errorf("%s: MaxPartitions() = %d, want %d", tt.name, got, tt.want)
		}
	}
	// The files: valid.toml is MAT only, two terms, two programmes each;
	// minimal defaults to both levels and one programme.
	if got := mustLoad(t, readValid(t)).MaxPartitions(); got != 1*2*3 {
		t.Errorf("valid.toml: MaxPartitions() = %d, want 6", got)
	}
	if got := mustLoad(t, minimal).MaxPartitions(); got != 2*1*2 {
		t.Errorf("minimal: MaxPartitions() = %d, want 4", got)
	}
}

func TestEpsilonFor(t *testing.T) {
	tests := []struct {
		name string
		text string
		want map[string]float64
	}{
		// Weights 1, 1, 2, 2, 2 sum to 8; epsilon is 2, of which impact.share
		// 0.4 goes to the impact table, leaving 1.2.
		{"weighted", readValid(t), map[string]float64{
			config.MeasurePupils:              0.15,
			config.MeasurePossibleSessions:    0.15,
			config.MeasureAuthorisedAbsence:   0.3,
			config.MeasureUnauthorisedAbsence: 0.3,
			config.MeasurePersistentAbsentees: 0.3,
		}},
		// Equal default weights; epsilon is 1.
		{"default weights", minimal, map[string]float64{
			config.MeasurePupils:              0.2,
			config.MeasurePossibleSessions:    0.2,
			config.MeasureAuthorisedAbsence:   0.2,
			config.MeasureUnauthorisedAbsence: 0.2,
			config.MeasurePersistentAbsentees: 0.2,
		}},
	}
	for _, tt := range tests {
		c := mustLoad(t, tt.text)
		sum := 0.0
		for _, m := range config.Measures {
			got := c.EpsilonFor(m)
			if math.Abs(got-tt.want[m]) > 1e-12 {
				t.Errorf("%s: EpsilonFor(%s) = %v, want %v", tt.name, m, got, tt.want[m])
			}
			sum += got
		}
		// The attendance measures and the impact table share the release's epsilon.
		if sum += c.ImpactEpsilon(c.Privacy.Epsilon); math.Abs(sum-c.Privacy.Epsilon) > 1e-12 {
			t.Errorf("%s: the measures' epsilons and impact's sum to %v, want privacy.epsilon %v", tt.name, sum, c.Privacy.Epsilon)
		}
	}
	// A share set without programmes has no impact table to spend it on:
	// the attendance measures get the whole epsilon.
	c0 := mustLoad(t, minimal+"\n[impact]\nshare = 0.5\n")
	if got := c0.EpsilonFor(config.MeasurePupils); math.Abs(got-0.2) > 1e-12 || c0.ImpactEpsilon(1) != 0 {
		t.Errorf("impact.share without programmes: pupils get %v, impact %v; want 0.2 and 0", got, c0.ImpactEpsilon(1))
	}
	// Awkward weights still split the whole budget.
	c := mustLoad(t, edited(t, readValid(t),
		edit{"pupils = 1.0", "pupils = 0.3"}, edit{"possible_sessions = 1.0", "possible_sessions = 0.7"},
		edit{"\nauthorised_absence = 2.0", "\nauthorised_absence = 1.1"}, edit{"epsilon = 2.0", "epsilon = 0.9"}))
	sum := c.ImpactEpsilon(0.9)
	for _, m := range config.Measures {
		sum += c.EpsilonFor(m)
	}
	if math.Abs(sum-0.9) > 1e-12 {
		t.Errorf("awkward weights: the measures' epsilons sum to %v, want 0.9", sum)
	}
}

func TestScopes(t *testing.T) {
	tests := []struct {
		years []string
		want  []string
	}{
		{[]string{"202425"}, []string{"TR0001/202425"}},
		{[]string{"202425", "202425", "202425"}, []string{"TR0001/202425"}},
		{[]string{"202425", "202324", "202425"}, []string{"TR0001/202324", "TR0001/202425"}},
	}
	for _, tt := range tests {
		c := &config.Config{Trust: config.Trust{ID: "TR0001"}}
		for _, y := range tt.years {
			c.Terms = append(c.Terms, config.Term{AcademicYear: y})
		}
		if got := c.Scopes(); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Scopes() of terms in %v = %q, want %q", tt.years, got, tt.want)
		}
	}
	if got := mustLoad(t, readValid(t)).Scopes(); !reflect.DeepEqual(got, []string{"TR0001/202425"}) {
		t.Errorf("valid.toml: Scopes() = %q, want [TR0001/202425]", got)
	}
}

func TestParseSchedule(t *testing.T) {
	from := time.Date(2025, 3, 12, 10, 0, 0, 0, time.UTC) // a Wednesday
	tests := []struct {
		spec string
		next time.Time
	}{
		{"*/5 * * * * *", from.Add(5 * time.Second)},                  // six fields: the first is seconds
		{"@daily", time.Date(2025, 3, 13, 0, 0, 0, 0, time.UTC)},      // descriptor
		{"30 2 * * *", time.Date(2025, 3, 13, 2, 30, 0, 0, time.UTC)}, // the default, five fields
		{"0 3 * * 1-5", time.Date(2025, 3, 13, 3, 0, 0, 0, time.UTC)},
		{"0 0 12 * * *", time.Date(2025, 3, 12, 12, 0, 0, 0, time.UTC)}, // seconds minutes hours
	}
	for _, tt := range tests {
		s, err := config.ParseSchedule(tt.spec)
		if err != nil {
			t.Errorf("ParseSchedule(%q): %v", tt.spec, err)
			continue
		}
		if got := s.Next(from); !got.Equal(tt.next) {
			t.Errorf("ParseSchedule(%q).Next(%s) = %s, want %s", tt.spec, from, got, tt.next)
		}
	}
	for _, spec := range []string{"", "* * *", "60 * * * *", "@fortnightly", "0 3 * * 1-5 * *"} {
		if _, err := config.ParseSchedule(spec); err == nil {
			t.Errorf("ParseSchedule(%q) accepted a bad spec", spec)
		}
	}
}

// TestEncodeRoundTrip checks that what `outcomes fixtures` writes loads back
// to the same configuration.
func TestEncodeRoundTrip(t *testing.T) {
	c := mustLoad(t, readValid(t))
	var first bytes.Buffer
	if err := c.Encode(&first); err != nil {
		t.Fatal(err)
	}
	back, err := config.Load(bytes.NewReader(first.Bytes()), c.Dir)
	if err != nil {
		t.Fatalf("Load(Encode(valid.toml)): %v\n%s", err, first.String())
	}
	var second bytes.Buffer
	if err := back.Encode(&second); err != nil {
		t.Fatal(err)
	}
	if first.String() != second.String() {
		t.Errorf("Encode after a round trip differs:\n%s\nwant\n%s", second.String(), first.String())
	}
	if !reflect.DeepEqual(back.Privacy.Weights, c.Privacy.Weights) || !back.Terms[1].EndDate().Equal(c.Terms[1].EndDate()) ||
		back.Terms[1].SchoolDays != c.Terms[1].SchoolDays || back.MaxPartitions() != c.MaxPartitions() {
		t.Errorf("round trip changed the configuration:\n%s", first.String())
	}
}

// TestExplicitZeroIsKept: zero means something for these keys (refuse any
// quarantined row; suppress nothing), so it must not become the default.
func TestExplicitZeroIsKept(t *testing.T) {
	text := strings.Replace(minimal, "[run]\n", "[run]\nmax_reject_share = 0.0\n", 1) + "\n[publish]\nsuppress_below = 0\n"
	c := mustLoad(t, text)
	if c.Run.MaxRejectShare != 0 || c.Publish.SuppressBelow != 0 {
		t.Errorf("max_reject_share = %v, suppress_below = %v; both were set to 0", c.Run.MaxRejectShare, c.Publish.SuppressBelow)
	}
}

// TestCountyCouncilCodesAccepted: county councils (E10) are education
// authorities; district councils (E07) are not.
func TestCountyCouncilCodesAccepted(t *testing.T) {
	kent := strings.Replace(minimal, "[[schools]]\n", "[[schools]]\nnew_la_code = \"E10000016\"\n", 1)
	mustLoad(t, kent)
	district := strings.Replace(minimal, "[[schools]]\n", "[[schools]]\nnew_la_code = \"E07000223\"\n", 1)
	if _, err := config.Load(strings.NewReader(district), "/trust"); err == nil || !strings.Contains(err.Error(), "new_la_code") {
		t.Errorf("district code accepted: %v", err)
	}
}

func TestPolicies(t *testing.T) {
	tests := []struct {
		publish            string
		rounding, suppress int
		wantErr            string
	}{
		{"", 5, 10, ""},
		{"policy = \"opensafely\"", 5, 8, ""},
		{"policy = \"opensafely\"\nsuppress_below = 20", 5, 20, ""},
		{"policy = \"dfe\"\nrounding_base = 10", 10, 10, ""},
		{"policy = \"nhsd\"", 0, 0, "publish.policy"},
	}
	for _, tt := range tests {
		c, err := config.Load(strings.NewReader(minimal+"\n[publish]\n"+tt.publish+"\n"), "/trust")
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%q: got %v, want an error naming %s", tt.publish, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.publish, err)
			continue
		}
		if c.Publish.RoundingBase != tt.rounding || c.Publish.SuppressBelow != tt.suppress {
			t.Errorf("%q: rounding %d suppress %d, want %d %d", tt.publish, c.Publish.RoundingBase, c.Publish.SuppressBelow, tt.rounding, tt.suppress)
		}
	}
}

func TestReleaseEpsilon(t *testing.T) {
	c := mustLoad(t, minimal)
	if got := c.ReleaseEpsilon(config.KindProvisional); got != c.Privacy.Epsilon/4 {
		t.Errorf("default provisional epsilon %v, want a quarter of %v", got, c.Privacy.Epsilon)
	}
	if got := c.ReleaseEpsilon(config.KindFinal); got != c.Privacy.Epsilon {
		t.Errorf("final epsilon %v, want %v", got, c.Privacy.Epsilon)
	}
	c = mustLoad(t, strings.Replace(minimal, "[privacy]\n", "[privacy]\nprovisional_epsilon = 0.3\n", 1))
	if got := c.ReleaseEpsilon(config.KindProvisional); got != 0.3 {
		t.Errorf("explicit provisional epsilon %v, want 0.3", got)
	}
	if _, err := config.Load(strings.NewReader(strings.Replace(minimal, "[privacy]\n", "[privacy]\nprovisional_epsilon = -1.0\n", 1)), "/trust"); err == nil || !strings.Contains(err.Error(), "privacy.provisional_epsilon = -1") {
		t.Errorf("negative provisional epsilon: %v", err)
	}
}
