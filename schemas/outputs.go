package schemas

// Published tables follow the Explore Education Statistics conventions
// (DOMAIN.md §5): mandatory time and geography columns, filter columns with a
// Total, indicator columns, and GSS symbols where a value is not published.

// GSS symbols used in CSV outputs.
const (
	SymbolSuppressed    = "c" // confidential: noisy pupil count below the reliability threshold
	SymbolNotApplicable = "z" // e.g. a rate whose denominator is zero
)

// EES fixed values.
const (
	CountryCode = "E92000001"
	CountryName = "England"

	LevelSchool = "School"
	LevelMAT    = "MAT"

	GroupTotal        = "Total"
	GroupParticipants = "Participants"
	GroupOthers       = "Others"
)

// AttendanceTable is the published table's name; files are attendance.parquet,
// attendance.csv and attendance.meta.csv.
const AttendanceTable = "attendance"

// AttendanceRow is one row of the attendance table: one partition (school or
// trust x term x programme x pupil group). Indicators are nil where the value
// is suppressed or not applicable; CSV shows the GSS symbol, Parquet a null.
// Struct tags: ees is time, geography (both left out of the .meta.csv, as EES
// requires), filter or indicator. Every count and sum is noisy (differentially private), clamped at zero and
// rounded; the _lower95/_upper95 columns give the 95% interval for the noise.
type AttendanceRow struct {
	TimePeriod      string `parquet:"time_period" ees:"time" label:"Academic year (e.g. 202425)"`
	TimeIdentifier  string `parquet:"time_identifier" ees:"time" label:"Term"`
	GeographicLevel string `parquet:"geographic_level" ees:"geography" label:"Geographic level"`
	CountryCode     string `parquet:"country_code" ees:"geography" label:"Country code"`
	CountryName     string `parquet:"country_name" ees:"geography" label:"Country name"`
	TrustID         string `parquet:"trust_id" ees:"geography" label:"Trust identifier"`
	TrustName       string `parquet:"trust_name" ees:"geography" label:"Trust name"`
	OldLACode       string `parquet:"old_la_code" ees:"geography" label:"Old local authority code"`
	NewLACode       string `parquet:"new_la_code" ees:"geography" label:"New local authority code"`
	LAName          string `parquet:"la_name" ees:"geography" label:"Local authority name"`
	SchoolURN       string `parquet:"school_urn" ees:"geography" label:"School URN"`
	SchoolLAESTAB   string `parquet:"school_laestab" ees:"geography" label:"School LAESTAB"`
	SchoolName      string `parquet:"school_name" ees:"geography" label:"School name"`
	ProgrammeID     string `parquet:"programme_id" ees:"filter" label:"Programme identifier"`
	Programme       string `parquet:"programme" ees:"filter" label:"Programme"`
	PupilGroup      string `parquet:"pupil_group" ees:"filter" label:"Pupil group (Participants, Others or Total)"`

	Pupils                     *int64   `parquet:"pupils,optional" ees:"indicator" unit:"" dp:"0" label:"Pupils with at least one possible session"`
	PupilsLower95              *int64   `parquet:"pupils_lower95,optional" ees:"indicator" unit:"" dp:"0" label:"Pupils, 95% interval lower bound (noise only)"`
	PupilsUpper95              *int64   `parquet:"pupils_upper95,optional" ees:"indicator" unit:"" dp:"0" label:"Pupils, 95% interval upper bound (noise only)"`
	PossibleSessions           *int64   `parquet:"possible_sessions,optional" ees:"indicator" unit:"" dp:"0" label:"Possible sessions"`
	PossibleSessionsLower95    *int64   `parquet:"possible_sessions_lower95,optional" ees:"indicator" unit:"" dp:"0" label:"Possible sessions, 95% lower bound"`
	PossibleSessionsUpper95    *int64   `parquet:"possible_sessions_upper95,optional" ees:"indicator" unit:"" dp:"0" label:"Possible sessions, 95% upper bound"`
	SessionsMissed             *int64   `parquet:"sessions_missed,optional" ees:"indicator" unit:"" dp:"0" label:"Sessions missed (authorised and unauthorised absence)"`
	SessionsMissedLower95      *int64   `parquet:"sessions_missed_lower95,optional" ees:"indicator" unit:"" dp:"0" label:"Sessions missed, 95% lower bound"`
	SessionsMissedUpper95      *int64   `parquet:"sessions_missed_upper95,optional" ees:"indicator" unit:"" dp:"0" label:"Sessions missed, 95% upper bound"`
	AuthorisedAbsence          *int64   `parquet:"authorised_absence_sessions,optional" ees:"indicator" unit:"" dp:"0" label:"Authorised absence sessions"`
	AuthorisedAbsenceLower95   *int64   `parquet:"authorised_absence_sessions_lower95,optional" ees:"indicator" unit:"" dp:"0" label:"Authorised absence sessions, 95% lower bound"`
	AuthorisedAbsenceUpper95   *int64   `parquet:"authorised_absence_sessions_upper95,optional" ees:"indicator" unit:"" dp:"0" label:"Authorised absence sessions, 95% upper bound"`
	UnauthorisedAbsence        *int64   `parquet:"unauthorised_absence_sessions,optional" ees:"indicator" unit:"" dp:"0" label:"Unauthorised absence sessions"`
	UnauthorisedAbsenceLower95 *int64   `parquet:"unauthorised_absence_sessions_lower95,optional" ees:"indicator" unit:"" dp:"0" label:"Unauthorised absence sessions, 95% lower bound"`
	UnauthorisedAbsenceUpper95 *int64   `parquet:"unauthorised_absence_sessions_upper95,optional" ees:"indicator" unit:"" dp:"0" label:"Unauthorised absence sessions, 95% upper bound"`
	AttendanceRate             *float64 `parquet:"attendance_rate,optional" ees:"indicator" unit:"%" dp:"1" label:"Attendance rate: (present + approved activity) / possible sessions"`
	AttendanceRateLower95      *float64 `parquet:"attendance_rate_lower95,optional" ees:"indicator" unit:"%" dp:"1" label:"Attendance rate, 95% lower bound"`
	AttendanceRateUpper95      *float64 `parquet:"attendance_rate_upper95,optional" ees:"indicator" unit:"%" dp:"1" label:"Attendance rate, 95% upper bound"`
	OverallAbsenceRate         *float64 `parquet:"overall_absence_rate,optional" ees:"indicator" unit:"%" dp:"1" label:"Overall absence rate: sessions missed / possible sessions"`
	PersistentAbsentees        *int64   `parquet:"persistent_absentees,optional" ees:"indicator" unit:"" dp:"0" label:"Pupils missing 10% or more of their own possible sessions in the term"`
	PersistentAbsenteesLower95 *int64   `parquet:"persistent_absentees_lower95,optional" ees:"indicator" unit:"" dp:"0" label:"Persistent absentees, 95% lower bound"`
	PersistentAbsenteesUpper95 *int64   `parquet:"persistent_absentees_upper95,optional" ees:"indicator" unit:"" dp:"0" label:"Persistent absentees, 95% upper bound"`
	PersistentAbsenceRate      *float64 `parquet:"persistent_absence_rate,optional" ees:"indicator" unit:"%" dp:"1" label:"Persistent absence rate: persistent absentees / pupils"`
	PersistentAbsenceRateLow95 *float64 `parquet:"persistent_absence_rate_lower95,optional" ees:"indicator" unit:"%" dp:"1" label:"Persistent absence rate, 95% lower bound"`
	PersistentAbsenceRateUp95  *float64 `parquet:"persistent_absence_rate_upper95,optional" ees:"indicator" unit:"%" dp:"1" label:"Persistent absence rate, 95% upper bound"`

	// Suppressed is true when the row's noisy pupil count fell below the
	// reliability threshold; every indicator is then nil, shown as "c" in CSV.
	// It is not a published column: the symbols and nulls carry it.
	Suppressed bool `parquet:"-"`
}
