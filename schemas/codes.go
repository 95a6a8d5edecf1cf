package schemas

import "sort"

// Category is the DfE category of an attendance code (DOMAIN.md §1).
type Category string

const (
	// Present: the pupil attended (/, \, L).
	Present Category = "P"
	// ApprovedActivity: an approved educational activity, which counts as attendance.
	ApprovedActivity Category = "AEA"
	// Authorised absence.
	Authorised Category = "AUTH"
	// Unauthorised absence.
	Unauthorised Category = "UNAUTH"
	// NotPossible: not a possible session; kept out of the denominator.
	NotPossible Category = "NPS"
	// Pending: no mark recorded yet ("-"); neither attendance nor absence.
	Pending Category = "PENDING"
)

// Possible reports whether sessions in this category count towards possible sessions.
func (c Category) Possible() bool {
	switch c {
	case Present, ApprovedActivity, Authorised, Unauthorised:
		return true
	}
	return false
}

// AttendanceCode is one register mark valid for sessions from 2024/25.
type AttendanceCode struct {
	Code     string
	Meaning  string
	Category Category
}

// AttendanceCodes is the code set of The School Attendance (Pupil Registration)
// (England) Regulations 2024, with categories as DfE publishes them.
var AttendanceCodes = []AttendanceCode{
	{"/", "Present, morning", Present},
	{`\`, "Present, afternoon", Present},
	{"L", "Late, arrived before the register closed", Present},
	{"K", "Attending education provision arranged by the local authority", ApprovedActivity},
	{"V", "Educational visit or trip", ApprovedActivity},
	{"P", "Approved sporting activity", ApprovedActivity},
	{"W", "Work experience", ApprovedActivity},
	{"B", "Other approved educational activity, off-site and supervised", ApprovedActivity},
	{"C1", "Leave for a regulated performance or employment abroad", Authorised},
	{"M", "Medical or dental appointment", Authorised},
	{"J1", "Interview for employment or another educational institution", Authorised},
	{"S", "Study leave for a public examination", Authorised},
	{"C2", "Temporary part-time timetable agreed for exceptional circumstances", Authorised},
	{"C", "Leave of absence for other exceptional circumstances", Authorised},
	{"T", "Parent travelling for occupational purposes (mobile child)", Authorised},
	{"R", "Religious observance", Authorised},
	{"I", "Illness (not medical or dental appointments)", Authorised},
	{"E", "Suspended or excluded, no alternative provision", Authorised},
	{"G", "Holiday not granted by the school", Unauthorised},
	{"N", "Reason not yet established", Unauthorised},
	{"O", "Other unauthorised absence", Unauthorised},
	{"U", "Arrived after the register closed", Unauthorised},
	{"D", "Dual registered, attending the other school", NotPossible},
	{"X", "Non-compulsory school age, not required to attend", NotPossible},
	{"Q", "Unable to attend: lack of access arrangements", NotPossible},
	{"Y1", "Unable to attend: transport not provided", NotPossible},
	{"Y2", "Unable to attend: widespread travel disruption", NotPossible},
	{"Y3", "Unable to attend: part of school premises out of use", NotPossible},
	{"Y4", "Unable to attend: whole school closed unexpectedly", NotPossible},
	{"Y5", "Unable to attend: in criminal justice detention", NotPossible},
	{"Y6", "Unable to attend: public health guidance or law", NotPossible},
	{"Y7", "Unable to attend: any other unavoidable cause", NotPossible},
	{"Z", "Prospective pupil, not yet on the admission register", NotPossible},
	{"#", "Planned whole or partial school closure", NotPossible},
	{"-", "No mark recorded yet", Pending},
}

var codeIndex = func() map[string]AttendanceCode {
	m := make(map[string]AttendanceCode, len(AttendanceCodes))
	for _, c := range AttendanceCodes {
		m[c.Code] = c
	}
	return m
}()

// LookupAttendanceCode returns the code's definition, or ok=false for a mark
// outside the 2024 code set.
func LookupAttendanceCode(code string) (AttendanceCode, bool) {
	c, ok := codeIndex[code]
	return c, ok
}

// CodesIn returns the codes of the given category, sorted.
func CodesIn(cat Category) []string {
	var out []string
	for _, c := range AttendanceCodes {
		if c.Category == cat {
			out = append(out, c.Code)
		}
	}
	sort.Strings(out)
	return out
}
