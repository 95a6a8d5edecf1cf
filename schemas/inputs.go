package schemas

// Input contracts (DOMAIN.md §8). Header names are matched after trimming,
// lower-casing and turning spaces and punctuation into underscores.

// Source names the kind of extract.
type Source string

// Sources the pipeline reads.
const (
	SourceRoster        Source = "roster"
	SourceAttendance    Source = "attendance"
	SourceParticipation Source = "participation"
)

// InputColumn is one column of an input contract.
type InputColumn struct {
	Name     string
	Required bool
	// Identifier columns hold raw personal identifiers: they are tokenised or
	// dropped at ingest and never written anywhere, masked in quarantine files.
	Identifier bool
}

// Columns returns the contract of a source.
func (s Source) Columns() []InputColumn {
	switch s {
	case SourceRoster:
		return []InputColumn{
			{Name: "school_urn", Required: true},
			{Name: "upn", Required: true, Identifier: true},
			{Name: "year_group", Required: true},
			{Name: "fsm"}, {Name: "sen"}, {Name: "gender"},
			{Name: "date_of_birth", Identifier: true},
			{Name: "forename", Identifier: true},
			{Name: "surname", Identifier: true},
			{Name: "postcode", Identifier: true},
			{Name: "nhs_number", Identifier: true},
		}
	case SourceAttendance:
		return []InputColumn{
			{Name: "school_urn", Required: true},
			{Name: "upn", Required: true, Identifier: true},
			{Name: "session_date", Required: true},
			{Name: "session", Required: true},
			{Name: "mark", Required: true},
		}
	case SourceParticipation:
		cols := []InputColumn{
			{Name: "programme", Required: true},
			{Name: "nhs_number", Identifier: true},
			{Name: "upn", Identifier: true},
			{Name: "forename", Identifier: true},
			{Name: "surname", Identifier: true},
			{Name: "date_of_birth", Identifier: true},
			{Name: "postcode", Identifier: true},
			{Name: "gender"},
			{Name: "event_date", Required: true},
			{Name: "event", Required: true},
			{Name: "attended", Required: true},
		}
		// A partner may send its file tokenised by `outcomes tokens`: the
		// identifier columns replaced by these. Tokens are keyed hashes, not
		// identifiers, but they are still personal data.
		for _, name := range TokenisedColumns {
			cols = append(cols, InputColumn{Name: name})
		}
		return cols
	}
	return nil
}

// MatchKeys are the linkage keys, in the order tried; transforms/linkage
// defines how each is built.
var MatchKeys = []string{"nhs_number", "upn", "names_dob_postcode", "initial_dob_district", "names_dob", "phonetic_dob_sex", "forename_dob_postcode"}

// TokenColumn is the column of a tokenised participation file that holds a
// match key's token.
func TokenColumn(key string) string { return "tok_" + key }

// Columns of a tokenised participation file besides the tokens:
// key_fingerprint names the key the tokens were made with; nhs_number_check
// and upn_check say whether the partner's identifier passed its check
// (valid/invalid; permanent/temporary/invalid), empty when there was none.
var TokenisedColumns = func() []string {
	cols := []string{"key_fingerprint", "nhs_number_check", "upn_check"}
	for _, k := range MatchKeys {
		cols = append(cols, TokenColumn(k))
	}
	return cols
}()

// ParticipationEvents are the accepted values of the event column.
var ParticipationEvents = []string{"referral", "session", "completed"}

// QuarantineReason is a stable code for why a row was not loaded.
type QuarantineReason struct {
	Code    string
	Column  string // the column at fault, empty when the whole row is
	Message string // plain English, shown to the data lead
}

// QuarantineReasons lists every reason a row can be quarantined, by code.
var QuarantineReasons = []QuarantineReason{
	{"malformed_row", "", "The row does not have the same number of fields as the header (a stray comma or quote, or a file cut off mid-row)."},
	{"missing_value", "", "A required field is empty."},
	{"invalid_upn", "upn", "The UPN is not a letter and 12 characters with a correct check letter (DfE validation rule 1510)."},
	{"invalid_nhs_number", "nhs_number", "The NHS number is not 10 digits with a correct modulus 11 check digit."},
	{"missing_identifier", "nhs_number", "The record has no NHS number, no UPN and not enough of name, date of birth and postcode to build any match key, so it cannot be linked to a pupil."},
	{"unknown_school", "school_urn", "The school URN is not one of the schools in the configuration."},
	{"invalid_year_group", "year_group", "The year group is not R or a whole number from 0 to 14."},
	{"invalid_fsm", "fsm", "The free school meals flag is not Y or N."},
	{"invalid_sen", "sen", "The SEN status is not N, K or E."},
	{"invalid_gender", "gender", "The gender is not F, M, U or X."},
	{"conflicting_roster_row", "upn", "The same UPN appears earlier in the roster with different details; the earlier row was kept."},
	{"invalid_date", "", "The date is not a real date in the date format configured for this file (YYYY-MM-DD, unless the configuration's [sources] section sets a date_format for this kind of file); it is never read another way."},
	{"date_outside_terms", "session_date", "The session date falls in none of the configured terms."},
	{"invalid_session", "session", "The session is not AM or PM."},
	{"unknown_mark", "mark", "The mark is not a DfE attendance code valid from 2024/25."},
	{"pupil_not_on_roster", "upn", "The UPN is valid but no pupil on this roster (or an earlier one) has it, or the pupil's own roster row was quarantined (see the roster's quarantine file)."},
	{"conflicting_mark", "mark", "Another mark for the same pupil and session was kept: among files read in the same run, the best mark (present > approved activity > authorised > unauthorised > not possible); against a mark an earlier run loaded from another file, that earlier mark."},
	{"unknown_programme", "programme", "The programme is not one of the programmes in the configuration."},
	{"event_date_out_of_range", "event_date", "The event date is more than a year before the first configured term or after the last: a date of birth or a typing slip, not a programme event."},
	{"invalid_event", "event", "The event is not referral, session or completed."},
	{"invalid_attended", "attended", "The attended flag is not Y or N."},
}
