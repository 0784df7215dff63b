package image

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"go.yaml.in/yaml/v3"
)

// readKeep reads the keep binary and checks that the kernel can run it as
// /init in an image without a dynamic loader or libc: a static ELF
// executable.
func readKeep(path string) ([]byte, error) {
	if path == "" {
		return nil, fmt.Errorf("no keep binary given (build the keep binary first: make build)")
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("keep binary %s does not exist (build the keep binary first: make build)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("keep binary: %w", err)
	}
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("keep binary %s is not an ELF executable (%v); build it with: make build", path, err)
	}
	defer f.Close()
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return nil, fmt.Errorf("keep binary %s is an ELF %v, not an executable", path, f.Type)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return nil, fmt.Errorf("keep binary %s is dynamically linked; the image has no libc: build it with CGO_ENABLED=0 (make build)", path)
		}
	}
	return data, nil
}

// readConfig reads the default appliance config and checks that it is a
// YAML document; its meaning is the supervisor's business.
func readConfig(path string) ([]byte, error) {
	if path == "" {
		return nil, fmt.Errorf("no default config given (the appliance's default keep.yaml)")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("default config: %w", err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("default config %s is not a YAML mapping: %w", path, err)
	}
	return data, nil
}
