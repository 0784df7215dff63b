package backup

import (
	"os"
	"testing"
)

// TestMain runs the crash test's helper process instead of the tests when
// the parent test asks for it (KEEP_CRASH_REPO).
func TestMain(m *testing.M) {
	if dir := os.Getenv("KEEP_CRASH_REPO"); dir != "" {
		crashHelper(dir)
	}
	os.Exit(m.Run())
}
