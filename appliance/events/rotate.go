package events

import (
	"fmt"
	"os"
	"path/filepath"
)

// rotateIfFull renames a full file to path+".1" and starts a new one. On
// failure it keeps appending to the file it has, reports the failure once
// as an event, and tries again when the file has grown by another quarter
// of the limit (never in a loop driven by its own event).
func (p *persister) rotateIfFull() error {
	p.j.mu.Lock()
	size := p.size
	p.j.mu.Unlock()
	if size < p.maxLen || size < p.rotateAt {
		return nil
	}
	if err := p.rotate(); err != nil {
		p.rotateAt = size + p.maxLen/4
		p.j.Emit(Event{Severity: Warning, Source: "journal", Kind: "journal.rotate_failed",
			Message: err.Error(), Fields: map[string]string{"path": p.path, "error": err.Error()}})
		return err
	}
	p.rotateAt = 0
	return nil
}

func (p *persister) rotate() error {
	p.filesMu.Lock()
	defer p.filesMu.Unlock()
	if err := p.f.Sync(); err != nil {
		return fmt.Errorf("rotate journal %s: %w", p.path, err)
	}
	if err := os.Rename(p.path, p.path+".1"); err != nil {
		return fmt.Errorf("rotate journal: %w", err)
	}
	f, err := p.j.open(p.path, true)
	if err != nil {
		// Keep writing to the renamed file; History still reads it.
		return fmt.Errorf("rotate journal: %w", err)
	}
	_ = p.f.Close()
	p.f = f
	p.j.mu.Lock()
	p.size = 0
	p.j.mu.Unlock()
	syncDir(filepath.Dir(p.path))
	return nil
}

// syncDir makes a rename durable; failure only weakens durability.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}
