package schemas

import "testing"

func TestAttendanceCodeCategories(t *testing.T) {
	tests := []struct {
		code     string
		want     Category
		possible bool
	}{
		{"/", Present, true}, {`\`, Present, true}, {"L", Present, true},
		{"K", ApprovedActivity, true}, {"B", ApprovedActivity, true},
		{"I", Authorised, true}, {"M", Authorised, true}, {"C2", Authorised, true}, {"J1", Authorised, true},
		{"G", Unauthorised, true}, {"N", Unauthorised, true}, {"U", Unauthorised, true}, {"O", Unauthorised, true},
		{"D", NotPossible, false}, {"X", NotPossible, false}, {"Y7", NotPossible, false}, {"#", NotPossible, false}, {"Z", NotPossible, false},
		{"-", Pending, false},
	}
	for _, tt := range tests {
		c, ok := LookupAttendanceCode(tt.code)
		if !ok {
			t.Errorf("code %q not found", tt.code)
			continue
		}
		if c.Category != tt.want || c.Category.Possible() != tt.possible {
			t.Errorf("code %q: category %s possible %v, want %s %v", tt.code, c.Category, c.Category.Possible(), tt.want, tt.possible)
		}
	}
	// Withdrawn from 2024/25: H, J, Y and F must not be accepted as current marks.
	for _, old := range []string{"H", "J", "Y", "F", "", "AM"} {
		if _, ok := LookupAttendanceCode(old); ok {
			t.Errorf("code %q accepted; it is not in the 2024 code set", old)
		}
	}
	if n := len(AttendanceCodes); n != len(codeIndex) {
		t.Errorf("duplicate codes: %d entries, %d distinct", n, len(codeIndex))
	}
}
