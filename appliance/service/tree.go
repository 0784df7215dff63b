package service

import (
	"context"
	"sync"

	"github.com/hashicorp/go-hclog"

	"keep/appliance/clock"
	"keep/appliance/events"
)

// Options are the tree's collaborators; zero fields get harmless defaults.
type Options struct {
	Clock  clock.Clock  // clock.Real() if nil
	Logger hclog.Logger // discards if nil
	Events Emitter      // discards if nil
}

type phase uint8

const (
	phaseIdle phase = iota
	phaseRunning
	phaseStopping
	phaseDone
)

// Tree supervises a set of services; see the package doc. Its methods are
// safe for concurrent use.
type Tree struct {
	clock   clock.Clock
	log     hclog.Logger
	emitter Emitter
	units   []*unit // dependency order
	byName  map[string]*unit

	inbox    *inbox
	stopReq  chan struct{} // closed by Shutdown, or when shutdown begins
	stopOnce sync.Once
	done     chan struct{} // closed when the tree has shut down
	readyCh  chan struct{} // closed when every service has been ready

	mu          sync.Mutex
	phase       phase
	starts      int            // first starts so far, for shutdown order
	allReady    bool           // every service has been ready
	readyClosed bool           // flush closed readyCh
	outbox      []events.Event // emitted by the loop after it releases mu
	runErr      error          // written before done is closed

	// Set by Run before the loop starts; used only by the loop.
	base      context.Context // parent of every run: Run's ctx without its cancellation
	auxCancel context.CancelFunc
	auxCtx    context.Context
	aux       sync.WaitGroup // backoff waits, stop watches, health loops
}

// New validates specs and returns a tree ready to Run. Unknown
// dependencies, duplicate names, invalid policies and dependency cycles
// are reported together, each wrapped around its sentinel error and naming
// the services involved.
func New(specs []Spec, opts Options) (*Tree, error) {
	units, err := buildUnits(specs)
	if err != nil {
		return nil, err
	}
	t := &Tree{
		clock:   opts.Clock,
		log:     opts.Logger,
		emitter: opts.Events,
		units:   units,
		byName:  make(map[string]*unit, len(units)),
		inbox:   newInbox(),
		stopReq: make(chan struct{}),
		done:    make(chan struct{}),
		readyCh: make(chan struct{}),
	}
	if t.clock == nil {
		t.clock = clock.Real()
	}
	if t.log == nil {
		t.log = hclog.NewNullLogger()
	}
	if t.emitter == nil {
		t.emitter = discard{}
	}
	now := t.clock.Now()
	for _, u := range units {
		t.byName[u.name] = u
		u.since = now
	}
	return t, nil
}

type discard struct{}

func (discard) Emit(events.Event) {}

// Ready is closed once every service has reported ready at least once:
// the boot has reached "ready". It stays open if a service never gets
// there; NotReady says which and why.
func (t *Tree) Ready() <-chan struct{} { return t.readyCh }

// Run supervises the services until ctx is cancelled or Shutdown is
// called, then stops them in reverse start order (see Shutdown) and
// returns. It returns nil after a clean stop, an error wrapping
// ErrStopTimeout naming the services it had to abandon, ErrAlreadyRunning
// if the tree is running, and ErrStopped if it already ran. The services
// run under a context that carries ctx's values but not its cancellation:
// cancelling ctx means "shut down in order", not "kill everything".
func (t *Tree) Run(ctx context.Context) error {
	t.mu.Lock()
	switch t.phase {
	case phaseRunning, phaseStopping:
		t.mu.Unlock()
		return ErrAlreadyRunning
	case phaseDone:
		t.mu.Unlock()
		return ErrStopped
	}
	t.phase = phaseRunning
	t.base = context.WithoutCancel(ctx)
	t.auxCtx, t.auxCancel = context.WithCancel(t.base)
	t.log.Info("supervising services", "count", len(t.units))
	t.checkAllReady()
	t.schedule()
	t.mu.Unlock()
	t.flush()

	for {
		select {
		case <-ctx.Done():
			return t.shutdown("context done")
		case <-t.stopReq:
			return t.shutdown("shutdown requested")
		case <-t.inbox.signal:
			t.mu.Lock()
			for _, m := range t.inbox.take() {
				t.handle(m)
			}
			t.schedule()
			t.mu.Unlock()
			t.flush()
		}
	}
}

// Shutdown asks Run to stop every service and waits until it has, or until
// ctx is done (the stop then goes on in the background). Services stop one
// at a time in the reverse of the order they first started, so dependents
// stop before what they depend on; each gets its StopTimeout, after which it
// is abandoned with a service.stop_timeout event and the shutdown moves
// on. The console shows "stopping X" and "stopped X" for each. Shutdown
// returns Run's result; on a tree that never ran it returns nil at once.
func (t *Tree) Shutdown(ctx context.Context) error {
	t.mu.Lock()
	if t.phase == phaseIdle {
		t.phase = phaseDone
		for _, u := range t.units {
			t.setState(u, StateStopped, "")
		}
		close(t.done)
		t.mu.Unlock()
		return nil
	}
	t.mu.Unlock()
	t.stopOnce.Do(func() { close(t.stopReq) })
	select {
	case <-t.done:
		return t.runErr
	case <-ctx.Done():
		return ctxErr("shutdown", ctx)
	}
}
