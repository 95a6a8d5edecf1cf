// Package config reads and validates the pipeline's TOML configuration.
//
// Everything that decides what is published lives here and is checked at
// start-up, so a bad epsilon, date or cron spec fails when the data lead types
// the command, not at 02:00. The lists of schools, terms and programmes are the
// public partitions of every output: they come from here, never from the data.
package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/robfig/cron/v3"
)

// Measure names, used as keys of privacy.weights and in the manifest.
const (
	MeasurePupils              = "pupils"
	MeasurePossibleSessions    = "possible_sessions"
	MeasureAuthorisedAbsence   = "authorised_absence"
	MeasureUnauthorisedAbsence = "unauthorised_absence"
	MeasurePersistentAbsentees = "persistent_absentees"
)

// Measures lists every DP measure a release draws, in a fixed order.
var Measures = []string{
	MeasurePupils, MeasurePossibleSessions, MeasureAuthorisedAbsence,
	MeasureUnauthorisedAbsence, MeasurePersistentAbsentees,
}

// Config is the whole configuration file.
type Config struct {
	Run        Run         `toml:"run"`
	Inputs     Inputs      `toml:"inputs"`
	Trust      Trust       `toml:"trust"`
	Schools    []School    `toml:"schools"`
	Terms      []Term      `toml:"terms"`
	Programmes []Programme `toml:"programmes"`
	Privacy    Privacy     `toml:"privacy"`
	Publish    Publish     `toml:"publish"`
	Impact     Impact      `toml:"impact"`
	DuckDB     DuckDB      `toml:"duckdb"`
	// Sources says how to read each source's extracts (sources.go), keyed
	// by source: roster, attendance, participation.
	Sources map[string]Format `toml:"sources,omitempty"`

	// Dir is the folder relative paths are resolved against: the config file's own.
	Dir string `toml:"-"`
}

// Run holds where state and releases live and when the schedule fires.
type Run struct {
	StateDir  string `toml:"state_dir"`  // Required. Private: warehouse, quarantine, logs.
	OutputDir string `toml:"output_dir"` // Required. releases/<id>/ and latest are written here.
	KeyFile   string `toml:"key_file"`   // Required. Secret key for pseudonymisation, mode 0600.
	Schedule  string `toml:"schedule"`   // Cron spec in Europe/London time. Defaults to "30 2 * * *".
	// KeepReleases keeps this many newest releases and removes older ones,
	// never one that latest or final names. Defaults to 0: keep all.
	KeepReleases int `toml:"keep_releases"`
	// MaxRejectShare is the share of a source's rows that may be quarantined
	// before the run is refused. Defaults to 0.05.
	MaxRejectShare float64 `toml:"max_reject_share"`
}

// Inputs names the extract files.
type Inputs struct {
	Roster        string   `toml:"roster"`        // Required.
	Attendance    []string `toml:"attendance"`    // Required, at least one file.
	Participation []string `toml:"participation"` // Optional.
}

// Trust identifies the multi-academy trust (geographic_level MAT).
type Trust struct {
	ID   string `toml:"id"`   // Required.
	Name string `toml:"name"` // Required.
}

// School is one public partition key.
type School struct {
	URN       string `toml:"urn"`         // Required, six digits.
	Name      string `toml:"name"`        // Required.
	LAESTAB   string `toml:"laestab"`     // Seven digits.
	OldLACode string `toml:"old_la_code"` // Three digits.
	NewLACode string `toml:"new_la_code"` // Nine characters, e.g. E08000019.
	LAName    string `toml:"la_name"`
}

// Term is a reporting period; sessions dated Start..End inclusive belong to it.
type Term struct {
	Name         string `toml:"name"`          // Required: "Autumn term", "Spring term" or "Summer term".
	AcademicYear string `toml:"academic_year"` // Required, six digits such as 202425.
	Start        string `toml:"start"`         // Required, YYYY-MM-DD.
	End          string `toml:"end"`           // Required, YYYY-MM-DD.
	// SchoolDays bounds each pupil's possible sessions at 2 x SchoolDays. It is
	// public (the school calendar). Defaults to the weekdays from Start to End.
	SchoolDays int `toml:"school_days"`

	start, end time.Time
}

// StartDate returns the parsed start date.
func (t Term) StartDate() time.Time { return t.start }

// EndDate returns the parsed end date.
func (t Term) EndDate() time.Time { return t.end }

// MaxSessions is the declared upper bound on one pupil's sessions in the term.
func (t Term) MaxSessions() int64 { return int64(2 * t.SchoolDays) }

// Programme is a health initiative whose participants form a group.
type Programme struct {
	ID   string `toml:"id"`   // Required; matches the programme column of participation files.
	Name string `toml:"name"` // Required.
	// Schools (URNs of configured schools) and YearGroups (0 for reception
	// to 14) are where the programme runs. The impact table's comparison
	// group is drawn from non-participants in these schools and year groups
	// only. Public facts from configuration, so they cost no budget; empty
	// means every school, or every year group, of the trust.
	Schools    []string `toml:"schools"`
	YearGroups []int    `toml:"year_groups"`
}

// Privacy holds the differential privacy parameters of a release.
type Privacy struct {
	// Epsilon is a final release's budget, split across Measures by Weights. Required.
	Epsilon float64 `toml:"epsilon"`
	// ProvisionalEpsilon is a provisional (nightly) release's budget.
	// Defaults to a quarter of Epsilon.
	ProvisionalEpsilon float64 `toml:"provisional_epsilon,omitempty"`
	// Delta must be 0: every measure uses Laplace noise.
	Delta float64 `toml:"delta"`
	// MaxProgrammesPerPupil bounds how many programmes' participant groups one
	// pupil may count in per term. Defaults to 1.
	MaxProgrammesPerPupil int `toml:"max_programmes_per_pupil"`
	// EpsilonCap is the most epsilon the ledger lets releases spend on one scope
	// (the trust's academic year). Required.
	EpsilonCap float64 `toml:"epsilon_cap"`
	// Weights split Epsilon across measures. Defaults to equal weights.
	Weights map[string]float64 `toml:"weights"`
}

// MaxPartitions is how many partitions of one measure a pupil can reach: at
// each published level and in each term, the all-pupils cell plus at most
// MaxProgrammesPerPupil programme cells.
func (c *Config) MaxPartitions() int64 {
	return int64(len(c.Publish.Levels) * len(c.Terms) * (1 + c.Privacy.MaxProgrammesPerPupil))
}

// EpsilonFor returns the share of a final release's Epsilon spent on one measure.
func (c *Config) EpsilonFor(measure string) float64 {
	return c.Share(c.Privacy.Epsilon, measure)
}

// Share splits the attendance table's part of a release's epsilon (all of
// it but impact.share) by the measures' weights.
func (c *Config) Share(epsilon float64, measure string) float64 {
	total := 0.0
	for _, m := range Measures {
		total += c.Privacy.Weights[m]
	}
	return (epsilon - c.ImpactEpsilon(epsilon)) * c.Privacy.Weights[measure] / total
}

// ImpactEpsilon is the part of a release's epsilon spent on the impact
// table; the release's total stays privacy.epsilon (or provisional_epsilon).
// It is 0 when there is no impact table (no programmes), so a share set
// without programmes is not left unspent.
func (c *Config) ImpactEpsilon(epsilon float64) float64 {
	if !c.ImpactEnabled() {
		return 0
	}
	return epsilon * c.Impact.Share
}

// Impact configures the impact table (issue #6): for each programme, the
// change in attendance from a window before each participant's first
// attended session to a window after it, against a comparison group of
// pupils who took part in no programme, matched on baseline absence band and
// free school meals.
type Impact struct {
	// Share is the part of each release's epsilon spent on the impact table;
	// the attendance table gets the rest. 0 turns the impact table off.
	// Defaults to 0.5 when programmes are configured, else 0: the impact
	// estimate is the question the trust asks, and its comparison strata are
	// small, so it gets half.
	Share float64 `toml:"share"`
	// WindowSessions is the length of the pre and post windows in possible
	// sessions (half days with a P, AEA, AUTH or UNAUTH mark; holidays and
	// not-possible sessions do not count). Defaults to 60: six school weeks.
	WindowSessions int `toml:"window_sessions"`
	// MinWindowSessions is the fewest possible sessions a pupil needs in each
	// window to be included. Defaults to half of WindowSessions.
	MinWindowSessions int `toml:"min_window_sessions"`
	// MaxChangePP bounds each pupil's change in attendance rate to
	// [-MaxChangePP, +MaxChangePP] percentage points before noise: the
	// sensitivity of the sums. Defaults to 30.
	MaxChangePP int `toml:"max_change_pp"`
	// BaselineBands are the edges, in % of possible sessions missed, of the
	// baseline absence bands the comparison is matched on. The baseline is
	// every possible session before the pre window. Defaults to [10, 20].
	BaselineBands []float64 `toml:"baseline_bands"`
	// MinBaselineSessions is the fewest baseline sessions that place a pupil
	// in a band; pupils with fewer form their own "no baseline" band.
	// Defaults to 10.
	MinBaselineSessions int `toml:"min_baseline_sessions"`
	// MinStratumPupils: a matching stratum whose noisy comparison count is
	// below it is merged with the next baseline band of the same FSM group
	// (coarsened matching), so no comparison mean rests on a handful of noisy
	// pupils. Defaults to 20.
	MinStratumPupils int `toml:"min_stratum_pupils"`
	// Breakdowns are published besides the total, each drawing on the
	// budget: any of "fsm", "sen", "year_group". Defaults to none.
	Breakdowns []string `toml:"breakdowns"`
	// YearGroups are the public year groups of the year_group breakdown.
	// Required when breakdowns include "year_group".
	YearGroups []int `toml:"year_groups"`
	// Period is how estimates are grouped by the date of the first
	// participation (the index date): "academic_year" (1 Sep - 31 Aug),
	// "term" (the configured terms) or "financial_year" (NHS, 1 Apr -
	// 31 Mar). Defaults to "academic_year".
	Period string `toml:"period"`
}

// DefaultImpact is the [impact] section a configuration gets when it leaves
// every key out (with programmes configured), for code that writes one.
func DefaultImpact() Impact {
	return Impact{Share: 0.5, WindowSessions: 60, MinWindowSessions: 30, MaxChangePP: 30,
		BaselineBands: []float64{10, 20}, MinBaselineSessions: 10, MinStratumPupils: 20, Period: PeriodAcademicYear}
}

// Impact breakdowns and periods.
const (
	BreakdownFSM       = "fsm"
	BreakdownSEN       = "sen"
	BreakdownYearGroup = "year_group"

	PeriodAcademicYear  = "academic_year"
	PeriodTerm          = "term"
	PeriodFinancialYear = "financial_year"
)

// ImpactEnabled reports whether releases carry the impact table.
func (c *Config) ImpactEnabled() bool { return c.Impact.Share > 0 && len(c.Programmes) > 0 }

// Release kinds. A provisional release is for the trust's own data lead and
// is published at once; a final release, for wider publication, waits for a
// named person's approval. Both spend from the same scope's budget.
const (
	KindProvisional = "provisional"
	KindFinal       = "final"
)

// ReleaseEpsilon is the epsilon one release of the kind spends.
func (c *Config) ReleaseEpsilon(kind string) float64 {
	if kind == KindFinal {
		return c.Privacy.Epsilon
	}
	return c.Privacy.ProvisionalEpsilon
}

// Publish holds post-processing choices, which cost no privacy.
type Publish struct {
	// Policy names a partner's disclosure-control convention, which sets
	// RoundingBase and SuppressBelow unless they are given: "dfe" (round to
	// 5, suppress below 10) or "opensafely" (redact 7 or fewer, round to 5).
	// Defaults to "dfe".
	Policy string `toml:"policy"`
	// RoundingBase rounds published counts and sums. Defaults to 5.
	RoundingBase int `toml:"rounding_base"`
	// SuppressBelow suppresses a cell whose noisy pupil count is below it. Defaults to 10.
	SuppressBelow int `toml:"suppress_below"`
	// CSVBOM starts the published CSV with a UTF-8 byte order mark, which
	// older Excel versions need to read accents correctly. Defaults to false.
	CSVBOM bool `toml:"csv_bom"`
	// Levels are the geographic levels published, each a separate DP
	// aggregate: "MAT" (the whole trust) and "School". Each level a pupil
	// reaches adds to MaxPartitions, so publishing only "MAT" halves the noise.
	// Defaults to both.
	Levels []string `toml:"levels"`
}

// Disclosure-control policies. Both are presentation for reliability: the
// differential privacy is what protects pupils, and thresholds apply to noisy
// values only.
const (
	PolicyDfE        = "dfe"
	PolicyOpenSAFELY = "opensafely"
)

// Policy is a named pair of rounding and suppression settings.
type Policy struct{ RoundingBase, SuppressBelow int }

// Policies by name: DfE's usual (suppress small counts, round to 5) and
// OpenSAFELY's (redact any statistic of 7 or fewer, round to the nearest 5).
var Policies = map[string]Policy{
	PolicyDfE:        {RoundingBase: 5, SuppressBelow: 10},
	PolicyOpenSAFELY: {RoundingBase: 5, SuppressBelow: 8},
}

// Geographic levels that can be published.
const (
	LevelMAT    = "MAT"
	LevelSchool = "School"
)

// HasLevel reports whether level is published.
func (c *Config) HasLevel(level string) bool {
	for _, l := range c.Publish.Levels {
		if l == level {
			return true
		}
	}
	return false
}

// DuckDB holds the database engine's resource settings.
type DuckDB struct {
	// MemoryLimit defaults to "2.5GB", which DuckDB reads as 2.5 x 10^9
	// bytes (2.33 GiB): DuckDB spills past it to the state folder's tmp/,
	// and the process's peak RSS runs about 0.5 GiB above it, so a region
	// (97.5 million marks) peaks at 2.81 GiB, no slower than at 4GB
	// (BENCHMARKS.md).
	MemoryLimit string `toml:"memory_limit"`
	// Threads defaults to 2. A run that reads less than 64 MB of input (a
	// nightly file) uses one: pipeline.parallelInputBytes says why.
	Threads int `toml:"threads"`
}

// Error is a configuration problem tied to one key.
type Error struct {
	Key    string
	Value  any
	Reason string
}

func (e *Error) Error() string {
	if e.Value == nil {
		return fmt.Sprintf("%s: %s", e.Key, e.Reason)
	}
	return fmt.Sprintf("%s = %v: %s", e.Key, e.Value, e.Reason)
}

// Load reads a configuration from r, fills defaults and validates it. dir is
// the folder relative paths are resolved against. Load has no side effects.
func Load(r io.Reader, dir string) (*Config, error) {
	var c Config
	md, err := toml.NewDecoder(r).Decode(&c)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	if undecoded := md.Undecoded(); len(undecoded) > 0 {
		keys := make([]string, len(undecoded))
		for i, k := range undecoded {
			keys[i] = k.String()
		}
		return nil, fmt.Errorf("unknown key %s in config (check its spelling and section)", strings.Join(keys, ", "))
	}
	c.Dir = dir
	c.setDefaults(md)
	if err := c.validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// FileError is any problem reading or validating a configuration file.
type FileError struct {
	Path string
	Err  error
}

func (e *FileError) Error() string { return fmt.Sprintf("config %s: %v", e.Path, e.Err) }
func (e *FileError) Unwrap() error { return e.Err }

// LoadFile reads the configuration at path; relative paths inside it are
// taken from the file's folder. Every error is a *FileError.
func LoadFile(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &FileError{Path: path, Err: err}
	}
	defer f.Close()
	abs, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, &FileError{Path: path, Err: err}
	}
	c, err := Load(f, abs)
	if err != nil {
		return nil, &FileError{Path: path, Err: err}
	}
	return c, nil
}

// Path resolves p against the config's folder.
func (c *Config) Path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.Dir, p)
}

// setDefaults fills what the file leaves out; a key set to zero keeps its zero
// where zero means something (no rejected rows allowed, no suppression).
func (c *Config) setDefaults(md toml.MetaData) {
	if c.Run.Schedule == "" {
		c.Run.Schedule = "30 2 * * *"
	}
	if !md.IsDefined("run", "max_reject_share") {
		c.Run.MaxRejectShare = 0.05
	}
	if !md.IsDefined("privacy", "provisional_epsilon") {
		c.Privacy.ProvisionalEpsilon = c.Privacy.Epsilon / 4
	}
	if c.Privacy.MaxProgrammesPerPupil == 0 {
		c.Privacy.MaxProgrammesPerPupil = 1
	}
	if c.Privacy.Weights == nil {
		c.Privacy.Weights = map[string]float64{}
	}
	if len(c.Privacy.Weights) == 0 {
		for _, m := range Measures {
			c.Privacy.Weights[m] = 1
		}
	}
	if c.Publish.Policy == "" {
		c.Publish.Policy = PolicyDfE
	}
	if p, ok := Policies[c.Publish.Policy]; ok {
		if !md.IsDefined("publish", "rounding_base") {
			c.Publish.RoundingBase = p.RoundingBase
		}
		if !md.IsDefined("publish", "suppress_below") {
			c.Publish.SuppressBelow = p.SuppressBelow
		}
	}
	if len(c.Publish.Levels) == 0 {
		c.Publish.Levels = []string{LevelMAT, LevelSchool}
	}
	if !md.IsDefined("impact", "share") && len(c.Programmes) > 0 {
		c.Impact.Share = 0.5
	}
	if c.Impact.WindowSessions == 0 {
		c.Impact.WindowSessions = 60
	}
	if c.Impact.MinWindowSessions == 0 {
		c.Impact.MinWindowSessions = c.Impact.WindowSessions / 2
	}
	if c.Impact.MaxChangePP == 0 {
		c.Impact.MaxChangePP = 30
	}
	if !md.IsDefined("impact", "baseline_bands") {
		c.Impact.BaselineBands = []float64{10, 20}
	}
	if !md.IsDefined("impact", "min_baseline_sessions") {
		c.Impact.MinBaselineSessions = 10
	}
	if !md.IsDefined("impact", "min_stratum_pupils") {
		c.Impact.MinStratumPupils = 20
	}
	if c.Impact.Period == "" {
		c.Impact.Period = PeriodAcademicYear
	}
	if c.DuckDB.MemoryLimit == "" {
		c.DuckDB.MemoryLimit = "2.5GB"
	}
	if c.DuckDB.Threads == 0 {
		c.DuckDB.Threads = 2
	}
	for i := range c.Terms {
		t := &c.Terms[i]
		t.start, _ = time.Parse(time.DateOnly, t.Start)
		t.end, _ = time.Parse(time.DateOnly, t.End)
		if t.SchoolDays == 0 && !t.start.IsZero() && !t.end.IsZero() {
			t.SchoolDays = weekdays(t.start, t.end)
		}
	}
}

func weekdays(from, to time.Time) int {
	n := 0
	for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
		if wd := d.Weekday(); wd != time.Saturday && wd != time.Sunday {
			n++
		}
	}
	return n
}

var (
	sixDigits     = regexp.MustCompile(`^[0-9]{6}$`)
	sevenDigits   = regexp.MustCompile(`^[0-9]{7}$`)
	threeDigits   = regexp.MustCompile(`^[0-9]{3}$`)
	newLACode     = regexp.MustCompile(`^E(0[689]|10)[0-9]{6}$`) // metropolitan, unitary, London and county: the education authorities
	programmeID   = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
	termNames     = map[string]bool{"Autumn term": true, "Spring term": true, "Summer term": true}
	cronSpecParse = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)
)

// ParseSchedule parses a cron spec as the scheduler will: five fields, an
// optional leading seconds field, or a descriptor such as @daily.
func ParseSchedule(spec string) (cron.Schedule, error) {
	return cronSpecParse.Parse(spec)
}

// TermWords is how many 64-bit words of half days the warehouse keeps per
// pupil and term (pupil_terms' possible_w0..w5 and attended_w0..w5), and
// MaxTermDays the longest span a term may have for them to hold it: two half
// days a day, from the term's first day.
const (
	TermWords   = 6
	MaxTermDays = TermWords * 64 / 2
)

func (c *Config) validate() error {
	var errs []error
	bad := func(key string, value any, reason string) {
		errs = append(errs, &Error{Key: key, Value: value, Reason: reason})
	}
	required := func(key, value string) {
		if strings.TrimSpace(value) == "" {
			bad(key, nil, "is required")
		}
	}
	required("run.state_dir", c.Run.StateDir)
	required("run.output_dir", c.Run.OutputDir)
	required("run.key_file", c.Run.KeyFile)
	if _, err := ParseSchedule(c.Run.Schedule); err != nil {
		bad("run.schedule", fmt.Sprintf("%q", c.Run.Schedule), "not a cron spec: "+err.Error())
	}
	if c.Run.KeepReleases < 0 {
		bad("run.keep_releases", c.Run.KeepReleases, "must be 0 (keep all) or more")
	}
	if c.Run.MaxRejectShare < 0 || c.Run.MaxRejectShare >= 1 {
		bad("run.max_reject_share", c.Run.MaxRejectShare, "must be at least 0 and below 1")
	}
	required("inputs.roster", c.Inputs.Roster)
	if len(c.Inputs.Attendance) == 0 {
		bad("inputs.attendance", nil, "needs at least one file")
	}
	c.validateSources(bad)
	required("trust.id", c.Trust.ID)
	required("trust.name", c.Trust.Name)

	if len(c.Schools) == 0 {
		bad("schools", nil, "needs at least one [[schools]] entry")
	}
	seenURN := map[string]bool{}
	for i, s := range c.Schools {
		key := fmt.Sprintf("schools[%d]", i)
		if !sixDigits.MatchString(s.URN) {
			bad(key+".urn", fmt.Sprintf("%q", s.URN), "must be six digits")
		}
		if seenURN[s.URN] {
			bad(key+".urn", s.URN, "appears twice")
		}
		seenURN[s.URN] = true
		required(key+".name", s.Name)
		if s.LAESTAB != "" && !sevenDigits.MatchString(s.LAESTAB) {
			bad(key+".laestab", fmt.Sprintf("%q", s.LAESTAB), "must be seven digits")
		}
		if s.OldLACode != "" && !threeDigits.MatchString(s.OldLACode) {
			bad(key+".old_la_code", fmt.Sprintf("%q", s.OldLACode), "must be three digits")
		}
		if s.NewLACode != "" && !newLACode.MatchString(s.NewLACode) {
			bad(key+".new_la_code", fmt.Sprintf("%q", s.NewLACode), "must be an education authority's code, such as E08000019 or E10000016")
		}
	}

	if len(c.Terms) == 0 {
		bad("terms", nil, "needs at least one [[terms]] entry")
	}
	for i, t := range c.Terms {
		key := fmt.Sprintf("terms[%d]", i)
		if !termNames[t.Name] {
			bad(key+".name", fmt.Sprintf("%q", t.Name), `must be "Autumn term", "Spring term" or "Summer term"`)
		}
		if !sixDigits.MatchString(t.AcademicYear) || !consecutiveYears(t.AcademicYear) {
			bad(key+".academic_year", fmt.Sprintf("%q", t.AcademicYear), "must be six digits naming consecutive years, such as 202425")
		}
		if t.start.IsZero() {
			bad(key+".start", fmt.Sprintf("%q", t.Start), "must be a date as YYYY-MM-DD")
		}
		if t.end.IsZero() {
			bad(key+".end", fmt.Sprintf("%q", t.End), "must be a date as YYYY-MM-DD")
		}
		if y := yearStart(t.AcademicYear); y > 0 && !t.start.IsZero() && !t.end.IsZero() {
			// The label names the budget scope, so the dates must lie in it:
			// 1 August of the first year to 31 July of the next.
			from, to := time.Date(y, 8, 1, 0, 0, 0, 0, time.UTC), time.Date(y+1, 7, 31, 0, 0, 0, 0, time.UTC)
			if t.start.Before(from) || t.end.After(to) {
				bad(key, t.Start+" to "+t.End, fmt.Sprintf("lies outside academic year %s (%s to %s)", t.AcademicYear, from.Format(time.DateOnly), to.Format(time.DateOnly)))
			}
		}
		if !t.start.IsZero() && !t.end.IsZero() && t.end.Before(t.start) {
			bad(key+".end", t.End, "is before the term's start "+t.Start)
		}
		// DfE's longest term, autumn, spans 153 days.
		if !t.start.IsZero() && !t.end.IsZero() && t.end.Sub(t.start) >= MaxTermDays*24*time.Hour {
			bad(key, t.Start+" to "+t.End, fmt.Sprintf("spans more than %d days; a term may span at most %d (DfE's autumn term, the longest, spans 153)", MaxTermDays, MaxTermDays))
		}
		if t.SchoolDays <= 0 || (!t.start.IsZero() && !t.end.IsZero() && t.SchoolDays > weekdays(t.start, t.end)) {
			bad(key+".school_days", t.SchoolDays, "must be positive and no more than the weekdays in the term")
		}
		for j := 0; j < i; j++ {
			o := c.Terms[j]
			if !t.start.IsZero() && !o.end.IsZero() && !t.start.After(o.end) && !o.start.After(t.end) {
				bad(key, t.Name+" "+t.AcademicYear, fmt.Sprintf("overlaps terms[%d] (%s %s)", j, o.Name, o.AcademicYear))
			}
			if t.Name == o.Name && t.AcademicYear == o.AcademicYear {
				bad(key, t.Name+" "+t.AcademicYear, fmt.Sprintf("appears twice (also terms[%d])", j))
			}
		}
	}

	seenProg := map[string]bool{}
	for i, p := range c.Programmes {
		key := fmt.Sprintf("programmes[%d]", i)
		if !programmeID.MatchString(p.ID) || p.ID == "total" {
			bad(key+".id", fmt.Sprintf("%q", p.ID), `must be lower-case letters, digits, - or _ (and not "total")`)
		}
		if seenProg[p.ID] {
			bad(key+".id", p.ID, "appears twice")
		}
		seenProg[p.ID] = true
		required(key+".name", p.Name)
		listed := map[string]bool{}
		for j, urn := range p.Schools {
			// seenURN holds the configured schools; with none configured
			// that is the error already reported.
			if (len(c.Schools) > 0 && !seenURN[urn]) || listed[urn] {
				bad(fmt.Sprintf("%s.schools[%d]", key, j), fmt.Sprintf("%q", urn), "must be the URN of a configured school, each at most once")
			}
			listed[urn] = true
		}
		seenYG := map[int]bool{}
		for j, y := range p.YearGroups {
			if y < 0 || y > 14 || seenYG[y] {
				bad(fmt.Sprintf("%s.year_groups[%d]", key, j), y, "must be a year group from 0 (reception) to 14, each at most once")
			}
			seenYG[y] = true
		}
	}

	if !(c.Privacy.Epsilon > 0) || c.Privacy.Epsilon > 100 {
		bad("privacy.epsilon", c.Privacy.Epsilon, "must be greater than 0 (and no more than 100)")
	}
	// A provisional epsilon derived from a bad epsilon is not a second error.
	if c.Privacy.Epsilon > 0 && (!(c.Privacy.ProvisionalEpsilon > 0) || c.Privacy.ProvisionalEpsilon > 100) {
		bad("privacy.provisional_epsilon", c.Privacy.ProvisionalEpsilon, "must be greater than 0 (and no more than 100)")
	}
	if c.Privacy.Delta != 0 {
		bad("privacy.delta", c.Privacy.Delta, "must be 0: every measure uses Laplace noise, which needs delta = 0")
	}
	if c.Privacy.MaxProgrammesPerPupil < 1 || c.Privacy.MaxProgrammesPerPupil > max(1, len(c.Programmes)) {
		bad("privacy.max_programmes_per_pupil", c.Privacy.MaxProgrammesPerPupil, "must be between 1 and the number of programmes")
	}
	if !(c.Privacy.EpsilonCap > 0) {
		bad("privacy.epsilon_cap", c.Privacy.EpsilonCap, "is required and must be greater than 0")
	} else if c.Privacy.EpsilonCap < c.Privacy.Epsilon {
		bad("privacy.epsilon_cap", c.Privacy.EpsilonCap, fmt.Sprintf("is below privacy.epsilon (%v), so no release could ever be published", c.Privacy.Epsilon))
	}
	known := map[string]bool{}
	for _, m := range Measures {
		known[m] = true
		if w, ok := c.Privacy.Weights[m]; !ok || !(w > 0) {
			bad("privacy.weights."+m, c.Privacy.Weights[m], "every measure needs a weight greater than 0")
		}
	}
	var extra []string
	for m := range c.Privacy.Weights {
		if !known[m] {
			extra = append(extra, m)
		}
	}
	sort.Strings(extra)
	for _, m := range extra {
		bad("privacy.weights."+m, nil, "is not a measure (expected one of "+strings.Join(Measures, ", ")+")")
	}
	if _, ok := Policies[c.Publish.Policy]; !ok {
		bad("publish.policy", fmt.Sprintf("%q", c.Publish.Policy), `must be "dfe" or "opensafely"`)
	}
	if c.Publish.RoundingBase < 1 {
		bad("publish.rounding_base", c.Publish.RoundingBase, "must be at least 1")
	}
	seenLevel := map[string]bool{}
	for i, l := range c.Publish.Levels {
		if (l != LevelMAT && l != LevelSchool) || seenLevel[l] {
			bad(fmt.Sprintf("publish.levels[%d]", i), fmt.Sprintf("%q", l), `must be "MAT" or "School", each at most once`)
		}
		seenLevel[l] = true
	}
	if c.Publish.SuppressBelow < 0 {
		bad("publish.suppress_below", c.Publish.SuppressBelow, "must not be negative")
	}
	c.validateImpact(bad)
	if c.DuckDB.Threads < 1 {
		bad("duckdb.threads", c.DuckDB.Threads, "must be at least 1")
	}
	return errors.Join(errs...)
}

func (c *Config) validateImpact(bad func(key string, value any, reason string)) {
	im := c.Impact
	if !(im.Share >= 0 && im.Share < 1) {
		bad("impact.share", im.Share, "must be at least 0 (off) and below 1: the attendance table needs the rest of the epsilon")
	}
	if im.WindowSessions < 2 || im.WindowSessions > 760 {
		bad("impact.window_sessions", im.WindowSessions, "must be between 2 and 760 possible sessions")
	}
	if im.MinWindowSessions < 1 || im.MinWindowSessions > im.WindowSessions {
		bad("impact.min_window_sessions", im.MinWindowSessions, "must be between 1 and impact.window_sessions")
	}
	if im.MaxChangePP < 1 || im.MaxChangePP > 100 {
		bad("impact.max_change_pp", im.MaxChangePP, "must be between 1 and 100 percentage points")
	}
	for i, b := range im.BaselineBands {
		if !(b > 0 && b < 100) || (i > 0 && !(b > im.BaselineBands[i-1])) {
			bad(fmt.Sprintf("impact.baseline_bands[%d]", i), b, "band edges must lie between 0 and 100 % and increase")
		}
	}
	if len(im.BaselineBands) > 9 {
		bad("impact.baseline_bands", len(im.BaselineBands), "at most 9 edges: every band splits the comparison")
	}
	if im.MinBaselineSessions < 0 {
		bad("impact.min_baseline_sessions", im.MinBaselineSessions, "must not be negative")
	}
	if im.MinStratumPupils < 1 {
		bad("impact.min_stratum_pupils", im.MinStratumPupils, "must be at least 1")
	}
	seen := map[string]bool{}
	for i, b := range im.Breakdowns {
		if (b != BreakdownFSM && b != BreakdownSEN && b != BreakdownYearGroup) || seen[b] {
			bad(fmt.Sprintf("impact.breakdowns[%d]", i), fmt.Sprintf("%q", b), `must be "fsm", "sen" or "year_group", each at most once`)
		}
		seen[b] = true
	}
	if seen[BreakdownYearGroup] && len(im.YearGroups) == 0 {
		bad("impact.year_groups", nil, `lists the public year groups and is required when impact.breakdowns has "year_group"`)
	}
	seenYG := map[int]bool{}
	for i, y := range im.YearGroups {
		if y < 0 || y > 14 || seenYG[y] {
			bad(fmt.Sprintf("impact.year_groups[%d]", i), y, "must be a year group from 0 (reception) to 14, each at most once")
		}
		seenYG[y] = true
	}
	if im.Period != PeriodAcademicYear && im.Period != PeriodTerm && im.Period != PeriodFinancialYear {
		bad("impact.period", fmt.Sprintf("%q", im.Period), `must be "academic_year", "term" or "financial_year"`)
	}
}

// yearStart is the first calendar year of an academic year label (2024 for
// 202425), or 0 for a malformed label.
func yearStart(label string) int {
	if !sixDigits.MatchString(label) || !consecutiveYears(label) {
		return 0
	}
	y := 0
	for _, c := range label[:4] {
		y = y*10 + int(c-'0')
	}
	return y
}

func consecutiveYears(label string) bool {
	start := int(label[2]-'0')*10 + int(label[3]-'0')
	end := int(label[4]-'0')*10 + int(label[5]-'0')
	return (start+1)%100 == end
}

// Scopes names the ledger scopes a release spends on: one per academic year
// its terms cover, "TRUST/202425". However releases group terms, each year's
// pupils are protected by that year's cap.
func (c *Config) Scopes() []string {
	years := map[string]bool{}
	for _, t := range c.Terms {
		years[t.AcademicYear] = true
	}
	var out []string
	for y := range years {
		out = append(out, c.Trust.ID+"/"+y)
	}
	sort.Strings(out)
	return out
}

// Encode writes c as TOML; `outcomes fixtures` uses it to write a demo config.
func (c *Config) Encode(w io.Writer) error {
	return toml.NewEncoder(w).Encode(c)
}
