package appliance

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"keep/appliance/config"
	"keep/appliance/events"
	"keep/engine/jobs"
	"keep/engine/local"
	"keep/engine/server"
	"keep/internal/gctune"
	"keep/netcfg/traffic"
	"keep/raid/vault"
)

// engineService runs the media-agent engine: on the appliance on the data
// filesystem once the vault is mounted, in hosted mode (`keep engine`) on
// a directory. Agents connect to cfg.Listen with mutual TLS.
type engineService struct {
	a   *Appliance
	cfg config.Engine
	// dir is the engine directory; "" on the appliance until the vault
	// is mounted (then it is resolved against the mount point).
	dir        string
	mountPoint string
	// onVault: wait for the data vault and stop if it goes.
	onVault bool
	log     hclog.Logger
	emit    func(sev events.Severity, kind, msg string, fields map[string]string)

	mu      sync.Mutex
	waiting bool // for the data vault, after ready
	eng     *local.Engine
	addr    string // the listener's address
	serving chan struct{}
}

func (s *engineService) Name() string { return "engine" }

// errNoEngine: the engine is not open (starting, or the vault is not
// mounted).
var errNoEngine = errors.New("the engine is not running: see keep ctl services and keep ctl raid")

// engine returns the open engine.
func (s *engineService) engine() (*local.Engine, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.eng == nil {
		return nil, errNoEngine
	}
	return s.eng, nil
}

func (s *engineService) Run(ctx context.Context, ready func()) error {
	dir := s.dir
	if s.onVault {
		if st := s.a.vaultStatus(); st == nil || st.State != vault.StateMounted {
			// Storage settled without a mounted vault (refused, failed,
			// waiting for disks): the box is not ready, and storage says
			// why. The engine counts as up (waiting is all it can do),
			// so the boot ends with that reason instead of waiting for
			// the engine, and opens the store once the vault is mounted.
			s.setWaiting(true)
			ready()
		}
		if err := s.waitMounted(ctx); err != nil {
			return nil // stopping
		}
		s.setWaiting(false)
		dir = s.cfg.Dir
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(s.mountPoint, dir)
		}
	}
	host, _ := os.Hostname()
	hosts := append([]string{host}, s.cfg.ServerNames...)
	start := time.Now()
	eng, err := local.Open(ctx, local.Options{Dir: dir, PassphraseFile: s.cfg.PassphraseFile, Hosts: hosts, Log: s.log})
	if err != nil {
		s.emit(events.Error, "engine.open_failed", err.Error(), map[string]string{"dir": dir})
		return err
	}
	defer func() {
		s.mu.Lock()
		s.eng = nil
		s.mu.Unlock()
		if err := eng.Close(context.Background()); err != nil {
			s.log.Error("close the repository", "error", err)
		}
	}()
	if eng.Created {
		s.emit(events.Warning, "engine.created",
			"engine created: take the recovery key off the box with `keep ctl engine recovery-key`, then `keep ctl engine recovery-key --forget`",
			map[string]string{"dir": dir, "key": eng.KeyID})
	} else if _, onBox, _ := eng.RecoveryKey(); onBox {
		s.emit(events.Warning, "engine.recovery_key_on_box", "the recovery key is still on the box: take it with `keep ctl engine recovery-key`, then `keep ctl engine recovery-key --forget`", nil)
	}
	eng.Server.SessionDone = s.sessionDone(eng)
	eng.Server.LoadChanged = func(l server.Load) { setVaultLimit(eng, l) }
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("engine: listen for agents on %s: %w", s.cfg.Listen, err)
	}
	st := eng.Repo.Stats()
	setVaultLimit(eng, server.Load{}) // again as sessions come and go, and after each job: the index grows
	s.log.Info("engine open", "dir", dir, "key", eng.KeyID, "blobs", st.Blobs, "packs", st.Packs,
		"agents", ln.Addr().String(), "took", time.Since(start).Round(time.Millisecond))
	s.mu.Lock()
	s.eng, s.addr, s.serving = eng, ln.Addr().String(), make(chan struct{})
	serving := s.serving
	s.mu.Unlock()
	ready()

	serveCtx, stop := context.WithCancel(ctx)
	defer stop()
	lost := make(chan error, 1)
	if s.onVault {
		go func() { lost <- s.watchMounted(serveCtx) }()
	}
	done := make(chan error, 1)
	go func() {
		defer close(serving)
		done <- eng.Serve(serveCtx, s.a.traffic.Listener(ln, traffic.Ingest))
	}()
	select {
	case err := <-done:
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("engine: serving agents: %w", err)
	case err := <-lost:
		stop()
		<-done
		if ctx.Err() != nil {
			return nil
		}
		s.emit(events.Error, "engine.stopped", err.Error(), nil)
		return err
	}
}

// Health: the agent server still runs and the repository answers. While
// it waits for the data vault the engine is healthy: there is nothing
// wrong with it, and the BMC watchdog must not reset a box whose vault an
// operator has to see to.
func (s *engineService) Health(ctx context.Context) error {
	s.mu.Lock()
	eng, serving, waiting := s.eng, s.serving, s.waiting
	s.mu.Unlock()
	if waiting {
		return nil
	}
	if eng == nil {
		return errNoEngine
	}
	select {
	case <-serving:
		return errors.New("the agent server stopped")
	default:
	}
	answered := make(chan struct{})
	go func() { eng.Repo.Stats(); close(answered) }()
	select {
	case <-answered:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("the repository does not answer: %w", ctx.Err())
	}
}

// setVaultLimit sets the process's memory limit for eng's index and the
// server's load l (gctune.VaultLimit).
func setVaultLimit(eng *local.Engine, l server.Load) {
	gctune.SetLimit(gctune.VaultLimit(eng.Repo.Stats().IndexBytes, l.Sessions, l.Readers))
}

// sessionDone turns an ended agent session into an event.
func (s *engineService) sessionDone(eng *local.Engine) func(server.SessionInfo) {
	return func(si server.SessionInfo) {
		setVaultLimit(eng, eng.Server.Load())
		if si.JobID == "" {
			if si.Err != nil && si.Client == "" {
				s.log.Info("agent refused", "error", si.Err)
			}
			return
		}
		j, err := eng.Jobs.Get(si.JobID)
		if err != nil {
			s.log.Error("job record", "job", si.JobID, "error", err)
			return
		}
		sev := events.Info
		switch j.State {
		case jobs.Partial:
			sev = events.Warning
		case jobs.Failed:
			sev = events.Error
		}
		msg := fmt.Sprintf("%s backup of %s %s: %d files, %d bytes seen, %d new", j.Kind, j.Client, j.State, j.Counts.Files, j.Counts.BytesSeen, j.Counts.BytesNew)
		if j.Reason != "" {
			msg += ": " + j.Reason
		}
		s.emit(sev, "engine.job_"+string(j.State), msg, map[string]string{"job": j.ID, "client": j.Client, "kind": string(j.Kind), "snapshot": j.Snapshot})
	}
}

// waitMounted waits until the data vault is mounted.
func (s *engineService) waitMounted(ctx context.Context) error {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	logged := false
	for {
		if st := s.a.vaultStatus(); st != nil && st.State == vault.StateMounted {
			return nil
		} else if !logged && st != nil {
			s.log.Info("engine waits for the data vault", "state", string(st.State))
			logged = true
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// watchMounted returns an error once the data vault is no longer mounted.
func (s *engineService) watchMounted(ctx context.Context) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		if st := s.a.vaultStatus(); st == nil || st.State != vault.StateMounted {
			state := "gone"
			if st != nil {
				state = string(st.State)
			}
			return fmt.Errorf("the data vault is %s: the engine stopped (its data is there)", state)
		}
	}
}

func (s *engineService) setWaiting(w bool) {
	s.mu.Lock()
	s.waiting = w
	s.mu.Unlock()
}
