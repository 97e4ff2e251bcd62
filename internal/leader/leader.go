// Package leader decides which of the pipebot replicas sharing a database
// leads: polls GitLab and posts watch and subscription cards, unfurl
// updates and digests. Leadership is the database's lease (state's
// AcquireLeadership), renewed every TTL/3; every notification write the
// leader makes carries the lease's epoch (Epoch, for state.Store.Fenced),
// and every Slack post is gated on it (Gate), so a leader that cannot renew
// stops before its lease could pass to another replica.
package leader

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/pipebot/pipebot/internal/state"
)

// DefaultTTL is the lease's length when Config.TTL is zero.
const DefaultTTL = 15 * time.Second

// leaseStore is the elector's slice of the state package.
type leaseStore interface {
	AcquireLeadership(ctx context.Context, holder string, ttl time.Duration) (state.Lease, error)
	ReleaseLeadership(ctx context.Context, holder string, epoch int64) error
	Listen(ctx context.Context, channel string) (<-chan struct{}, error)
}

var _ leaseStore = (*state.Store)(nil)

// Config configures an Elector.
type Config struct {
	Store leaseStore
	// Holder names this process in the lease; unique per process.
	Holder string
	// TTL is how long a lease lasts unless renewed; renewed every TTL/3.
	TTL    time.Duration
	Logger zerolog.Logger
	// OnChange, when set, is told each time this process starts or stops
	// leading (metrics).
	OnChange func(leading bool)
}

// Elector campaigns for the lease and runs the leader's work while this
// process holds it.
type Elector struct {
	cfg    Config
	log    zerolog.Logger
	margin time.Duration

	mu    sync.Mutex
	epoch int64     // 0: not leading
	until time.Time // local (monotonic) end of the lease as this process knows it
}

// New returns an Elector. It does no I/O.
func New(cfg Config) *Elector {
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultTTL
	}
	// The lease is counted from before the request was sent, so this
	// process's end is never after the database's; the margin covers the
	// time between the Gate's check and the post reaching Slack, and clock
	// rate drift.
	margin := min(max(cfg.TTL/10, 50*time.Millisecond), time.Second)
	return &Elector{cfg: cfg, log: cfg.Logger.With().Str("component", "leader").Logger(), margin: margin}
}

// Epoch returns the lease epoch while this process is sure to hold the
// lease, and state.ErrNotLeader otherwise. It is the fence of the leader's
// store (state.Store.Fenced).
func (e *Elector) Epoch() (int64, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.epoch == 0 || !time.Now().Before(e.until) {
		return 0, state.ErrNotLeader
	}
	return e.epoch, nil
}

// Leading reports whether this process holds the lease now.
func (e *Elector) Leading() bool {
	_, err := e.Epoch()
	return err == nil
}

// Gate is nil while this process holds the lease: the leader's Slack posts
// check it first.
func (e *Elector) Gate() error {
	_, err := e.Epoch()
	return err
}

// term is one stretch of leadership.
type term struct {
	epoch  int64
	cancel context.CancelFunc
	done   chan struct{}
	expiry *time.Timer // steps down when the lease runs out unrenewed
}

// Run campaigns until ctx ends. While this process holds the lease, lead
// runs with a context that ends when the lease is lost; Run waits for it
// to return before campaigning again. When ctx ends, a held lease is
// released so another replica takes over at once.
func (e *Elector) Run(ctx context.Context, lead func(ctx context.Context)) {
	// The lease row lasts 9/10 of the TTL past each renewal: with a
	// follower's jitter (at most TTL/20) added, a dead leader's lease passes
	// on within one TTL of its last renewal.
	ttl := e.cfg.TTL - e.cfg.TTL/10
	renew := e.cfg.TTL / 3
	released, err := e.cfg.Store.Listen(ctx, state.LeaseChannel)
	if err != nil {
		e.log.Warn().Err(err).Msg("listen for released leases")
		released = nil
	}
	var cur *term
	var failing bool
	for {
		wait := renew
		sent := time.Now()
		actx, cancel := context.WithTimeout(ctx, renew)
		l, err := e.cfg.Store.AcquireLeadership(actx, e.cfg.Holder, ttl)
		cancel()
		switch {
		case ctx.Err() != nil:
		case err != nil:
			if !failing {
				e.log.Warn().Err(err).Msg("lease not renewed")
			}
			failing = true
			// Try again soon; the expiry timer steps down when the
			// lease runs out meanwhile.
			wait = max(e.cfg.TTL/10, 10*time.Millisecond)
		case l.Held:
			failing = false
			if cur != nil && cur.epoch != l.Epoch {
				// The lease lapsed and came back: a new term.
				e.stepDown(cur)
				cur = nil
			}
			until := sent.Add(min(l.Remaining, ttl) - e.margin)
			e.mu.Lock()
			e.epoch, e.until = l.Epoch, until
			e.mu.Unlock()
			if cur == nil {
				cur = e.startTerm(ctx, l.Epoch, lead)
			}
			cur.expiry.Reset(time.Until(until))
		default:
			failing = false
			if cur != nil {
				e.stepDown(cur)
				cur = nil
			}
			// Come back when the holder's lease would run out, a little
			// after, so that racing replicas spread.
			jitter := time.Duration(rand.Int64N(int64(e.cfg.TTL/20) + 1))
			wait = min(max(l.Remaining, 10*time.Millisecond)+jitter, ttl)
		}
		if cur != nil {
			select {
			case <-cur.done:
				// lead returned or the lease ran out: campaign again.
				e.stepDown(cur)
				cur = nil
				wait = 0
			default:
			}
		}
		if ctx.Err() != nil {
			break
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-timer.C:
		case <-released:
		case <-doneOf(cur):
		}
		timer.Stop()
		if ctx.Err() != nil {
			break
		}
	}
	if cur != nil {
		epoch := cur.epoch
		e.stepDown(cur)
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := e.cfg.Store.ReleaseLeadership(rctx, e.cfg.Holder, epoch); err != nil {
			e.log.Warn().Err(err).Msg("release lease")
		}
	}
}

func doneOf(t *term) <-chan struct{} {
	if t == nil {
		return nil
	}
	return t.done
}

// startTerm runs lead for epoch until the term ends.
func (e *Elector) startTerm(ctx context.Context, epoch int64, lead func(context.Context)) *term {
	tctx, cancel := context.WithCancel(ctx)
	t := &term{epoch: epoch, cancel: cancel, done: make(chan struct{})}
	// The lease ran out unrenewed (the database is unreachable, or this
	// process was paused): stop at once, whatever the loop is doing.
	t.expiry = time.AfterFunc(time.Hour, func() {
		e.mu.Lock()
		expired := e.epoch == epoch && !time.Now().Before(e.until)
		if expired {
			e.epoch = 0
		}
		e.mu.Unlock()
		if expired {
			e.log.Warn().Int64("epoch", epoch).Msg("lease ran out unrenewed; stepping down")
			e.changed(false)
			cancel()
		}
	})
	e.log.Info().Int64("epoch", epoch).Str("holder", e.cfg.Holder).Msg("leading")
	e.changed(true)
	go func() {
		defer close(t.done)
		defer cancel()
		lead(tctx)
	}()
	return t
}

// stepDown ends a term: its work stops being able to write at once (and
// OnChange hears so), then Run waits for lead to return, which may take
// the time of the work in flight.
func (e *Elector) stepDown(t *term) {
	e.mu.Lock()
	if e.epoch == t.epoch {
		e.epoch = 0
	}
	e.mu.Unlock()
	e.changed(false)
	t.expiry.Stop()
	t.cancel()
	<-t.done
	e.log.Info().Int64("epoch", t.epoch).Msg("not leading")
}

// changed tells OnChange whether this process leads.
func (e *Elector) changed(leading bool) {
	if e.cfg.OnChange != nil {
		e.cfg.OnChange(leading)
	}
}
