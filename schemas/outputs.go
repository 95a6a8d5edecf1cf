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

// ImpactTable is the impact table's name: impact.parquet, impact.csv and
// impact.meta.csv.
const ImpactTable = "impact"

// ImpactRow is one row of the impact table: one programme x period of index
// dates x breakdown cell, at trust level. Changes are in percentage points,
// post window minus pre window; the comparison change is matched to the
// participants on baseline absence band and free school meals; the
// difference is participants' change minus the comparison's
// (difference-in-differences). Intervals are 95% and combine the sampling
// uncertainty with the differential privacy noise. Indicators are nil when
// the row is suppressed (noisy pupil count below the threshold: "c") or not
// estimable ("z").
type ImpactRow struct {
	TimePeriod      string `parquet:"time_period" ees:"time" label:"Period of the index dates (academic year such as 202425, or financial year such as 202425)"`
	TimeIdentifier  string `parquet:"time_identifier" ees:"time" label:"Academic year, term or Financial year"`
	GeographicLevel string `parquet:"geographic_level" ees:"geography" label:"Geographic level"`
	CountryCode     string `parquet:"country_code" ees:"geography" label:"Country code"`
	CountryName     string `parquet:"country_name" ees:"geography" label:"Country name"`
	TrustID         string `parquet:"trust_id" ees:"geography" label:"Trust identifier"`
	TrustName       string `parquet:"trust_name" ees:"geography" label:"Trust name"`
	ProgrammeID     string `parquet:"programme_id" ees:"filter" label:"Programme identifier"`
	Programme       string `parquet:"programme" ees:"filter" label:"Programme"`
	Breakdown       string `parquet:"breakdown" ees:"filter" label:"Breakdown (Total, FSM, SEN or Year group)"`
	BreakdownValue  string `parquet:"breakdown_value" ees:"filter" label:"Breakdown value (Total; FSM Y/N; SEN N/K/E; year group)"`

	Participants              *int64   `parquet:"participants,optional" ees:"indicator" unit:"" dp:"0" label:"Participants with both windows (noisy, rounded)"`
	ComparisonPupils          *int64   `parquet:"comparison_pupils,optional" ees:"indicator" unit:"" dp:"0" label:"Comparison pupils with both windows (noisy, rounded)"`
	ParticipantsChange        *float64 `parquet:"participants_change,optional" ees:"indicator" unit:"pp" dp:"1" label:"Participants' change in attendance rate, post minus pre window"`
	ParticipantsChangeLower95 *float64 `parquet:"participants_change_lower95,optional" ees:"indicator" unit:"pp" dp:"1" label:"Participants' change, 95% lower bound (sampling and noise)"`
	ParticipantsChangeUpper95 *float64 `parquet:"participants_change_upper95,optional" ees:"indicator" unit:"pp" dp:"1" label:"Participants' change, 95% upper bound (sampling and noise)"`
	ComparisonChange          *float64 `parquet:"comparison_change,optional" ees:"indicator" unit:"pp" dp:"1" label:"Matched comparison group's change in attendance rate"`
	ComparisonChangeLower95   *float64 `parquet:"comparison_change_lower95,optional" ees:"indicator" unit:"pp" dp:"1" label:"Comparison change, 95% lower bound"`
	ComparisonChangeUpper95   *float64 `parquet:"comparison_change_upper95,optional" ees:"indicator" unit:"pp" dp:"1" label:"Comparison change, 95% upper bound"`
	Difference                *float64 `parquet:"difference,optional" ees:"indicator" unit:"pp" dp:"1" label:"Difference in differences: participants' change minus comparison change"`
	DifferenceLower95         *float64 `parquet:"difference_lower95,optional" ees:"indicator" unit:"pp" dp:"1" label:"Difference in differences, 95% lower bound"`
	DifferenceUpper95         *float64 `parquet:"difference_upper95,optional" ees:"indicator" unit:"pp" dp:"1" label:"Difference in differences, 95% upper bound"`
	ParticipantsPAChange      *float64 `parquet:"participants_pa_change,optional" ees:"indicator" unit:"pp" dp:"1" label:"Participants' change in persistent absence rate, post minus pre window"`
	ParticipantsPAChangeLow95 *float64 `parquet:"participants_pa_change_lower95,optional" ees:"indicator" unit:"pp" dp:"1" label:"Participants' persistent absence change, 95% lower bound"`
	ParticipantsPAChangeUp95  *float64 `parquet:"participants_pa_change_upper95,optional" ees:"indicator" unit:"pp" dp:"1" label:"Participants' persistent absence change, 95% upper bound"`
	ComparisonPAChange        *float64 `parquet:"comparison_pa_change,optional" ees:"indicator" unit:"pp" dp:"1" label:"Matched comparison group's change in persistent absence rate"`
	ComparisonPAChangeLow95   *float64 `parquet:"comparison_pa_change_lower95,optional" ees:"indicator" unit:"pp" dp:"1" label:"Comparison persistent absence change, 95% lower bound"`
	ComparisonPAChangeUp95    *float64 `parquet:"comparison_pa_change_upper95,optional" ees:"indicator" unit:"pp" dp:"1" label:"Comparison persistent absence change, 95% upper bound"`
	PADifference              *float64 `parquet:"pa_difference,optional" ees:"indicator" unit:"pp" dp:"1" label:"Difference in differences of the persistent absence rate"`
	PADifferenceLower95       *float64 `parquet:"pa_difference_lower95,optional" ees:"indicator" unit:"pp" dp:"1" label:"Persistent absence difference, 95% lower bound"`
	PADifferenceUpper95       *float64 `parquet:"pa_difference_upper95,optional" ees:"indicator" unit:"pp" dp:"1" label:"Persistent absence difference, 95% upper bound"`

	// Suppressed is true when the row's noisy participant or comparison count
	// fell below the reliability threshold: every indicator is then nil ("c").
	Suppressed bool `parquet:"-"`
}
