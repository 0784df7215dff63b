package enrol

import (
	"fmt"

	"keep/internal/durable"
)

// writeFile writes data to dir/name durably: to a temporary file in dir
// (mode 0600), fsynced and closed, renamed over name, and dir fsynced.
// A crash leaves the old file or the new one, whole.
func writeFile(dir, name string, data []byte) error {
	if err := durable.WriteFile(dir, name, data, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}
