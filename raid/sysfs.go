package raid

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Sysfs is the Kernel over md's sysfs attributes below Root ("/sys" on the
// appliance, a directory tree in tests).
type Sysfs struct {
	Root string
}

var _ Kernel = Sysfs{}

// NewArray writes the name to module/md_mod/parameters/new_array.
func (s Sysfs) NewArray(array string) error {
	if err := checkName(array); err != nil {
		return err
	}
	return s.write(filepath.Join("module", "md_mod", "parameters", "new_array"), array)
}

// SetMetadataVersion writes block/<array>/md/metadata_version.
func (s Sysfs) SetMetadataVersion(array, version string) error {
	return s.attr(array, "metadata_version", version)
}

// AddDevice writes "major:minor" to block/<array>/md/new_dev.
func (s Sysfs) AddDevice(array string, dev DevNum) error {
	return s.attr(array, "new_dev", dev.String())
}

// SetArrayState writes block/<array>/md/array_state.
func (s Sysfs) SetArrayState(array, state string) error {
	return s.attr(array, "array_state", state)
}

func (s Sysfs) attr(array, name, value string) error {
	if err := checkName(array); err != nil {
		return err
	}
	return s.write(filepath.Join("block", array, "md", name), value)
}

// write writes value to an existing attribute, in one write(2) as sysfs
// wants; it never creates files.
func (s Sysfs) write(rel, value string) error {
	p := filepath.Join(s.Root, rel)
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("md sysfs: %w", err)
	}
	_, werr := f.Write([]byte(value))
	cerr := f.Close()
	if werr != nil {
		return fmt.Errorf("md sysfs: write %q to %s: %w", value, p, werr)
	}
	if cerr != nil {
		return fmt.Errorf("md sysfs: close %s: %w", p, cerr)
	}
	return nil
}

// checkName refuses array names that would leave the md tree.
func checkName(array string) error {
	if array == "" || strings.ContainsAny(array, "/\x00") || array == "." || array == ".." {
		return fmt.Errorf("md sysfs: array name %q: %w", array, ErrInvalidSpec)
	}
	return nil
}
