package pipeline

import (
	"strings"
	"testing"
)

// TestCodeIdentityReadsTheBuildID: a development build's version ("dev", or
// the same "-dirty" describe for two different trees) does not change with
// its code, so the contexts rely on the Go build ID read from the running
// executable; without it an unchanged file would keep rows made by older code.
func TestCodeIdentityReadsTheBuildID(t *testing.T) {
	id := codeIdentity("dev")
	version, build, _ := strings.Cut(id, " ")
	if version != "dev" || len(build) < 16 {
		t.Fatalf("codeIdentity(\"dev\") = %q: no build ID read from the executable", id)
	}
}
