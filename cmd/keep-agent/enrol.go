package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"keep/engine/enrol"
	"keep/engine/remote"
)

// agentConfig is what the agent keeps beside its credentials: where the
// vault is and the client name the certificate carries.
type agentConfig struct {
	Vault    string    `json:"vault"`
	Enrolled time.Time `json:"enrolled"`
}

const configFile = "agent.json"

func runEnrol(ctx context.Context, e *env, args []string) error {
	fs, dir := newFlags(e, "enrol", "enrol TOKEN [--dir DIR]\n\n"+
		"Redeems a one-time enrolment token (keep1.…, from the vault operator) for this\n"+
		"machine's client certificate. The token names the vault's address and pins its CA;\n"+
		"the private key is generated here and never leaves DIR (written 0600).")
	force := fs.Bool("force", false, "replace existing credentials in DIR")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("expected one TOKEN (keep1.…), got %d arguments", len(pos))
	}
	tok, err := enrol.ParseToken(pos[0])
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(*dir, configFile)); err == nil && !*force {
		return fmt.Errorf("%s already holds credentials: pass --force to replace them (the old certificate stops being used; ask the operator to revoke it)", *dir)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cr, err := remote.Enrol(ctx, pos[0], remote.Options{Agent: version})
	if err != nil {
		return fmt.Errorf("enrol with the vault at %s: %w", tok.Addr, err)
	}
	if err := cr.Save(*dir); err != nil {
		return fmt.Errorf("save credentials: %w", err)
	}
	b, err := json.MarshalIndent(agentConfig{Vault: tok.Addr, Enrolled: time.Now().UTC()}, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileDurable(filepath.Join(*dir, configFile), append(b, '\n')); err != nil {
		return fmt.Errorf("save vault address: %w", err)
	}
	// Check the credentials work end to end.
	c, err := remote.Dial(ctx, tok.Addr, cr, remote.Options{Agent: version})
	if err != nil {
		return fmt.Errorf("enrolled, but the first connection failed: %w", err)
	}
	info := c.Info()
	_ = c.Close()
	fmt.Fprintf(e.stdout, "enrolled as client %q with vault %s at %s; credentials in %s\n", info.Client, info.VaultID, tok.Addr, *dir)
	return nil
}

// writeFileDurable writes name (0600) through a temporary file, fsynced,
// renamed, and the directory fsynced.
func writeFileDurable(name string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(name), ".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, name); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(name))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// connect loads the credentials in dir and dials the vault.
func connect(ctx context.Context, dir string) (*remote.Client, error) {
	return connectWith(ctx, dir, remote.Options{})
}

// connectWith is connect with client options (the agent version is set).
func connectWith(ctx context.Context, dir string, opts remote.Options) (*remote.Client, error) {
	b, err := os.ReadFile(filepath.Join(dir, configFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("this agent is not enrolled (no %s): run \"keep-agent enrol TOKEN --dir %s\" with a token from the vault operator", filepath.Join(dir, configFile), dir)
	}
	if err != nil {
		return nil, fmt.Errorf("read agent config: %w", err)
	}
	var cfg agentConfig
	if err := json.Unmarshal(b, &cfg); err != nil || cfg.Vault == "" {
		return nil, fmt.Errorf("%s is damaged: enrol again with a new token (--force)", filepath.Join(dir, configFile))
	}
	addr := cfg.Vault
	if a := os.Getenv("KEEP_VAULT"); a != "" {
		addr = a // the vault moved: the CA pin still applies
	}
	cr, err := remote.LoadCredentials(dir)
	if err != nil {
		return nil, err
	}
	dctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	opts.Agent = version
	c, err := remote.Dial(dctx, addr, cr, opts)
	if err != nil {
		return nil, fmt.Errorf("connect to the vault at %s: %w (is the vault running and reachable? set KEEP_VAULT=host:port if it moved)", addr, err)
	}
	return c, nil
}
