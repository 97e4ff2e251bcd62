package slackapp

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// ErrBusy is returned by Pool.Submit when the queue is full or the pool is
// stopping; the transport then tells the user to try again.
var ErrBusy = errors.New("slackapp: worker pool is busy")

// Pool defaults.
const (
	defaultWorkers = 8
	defaultQueue   = 256
	defaultTimeout = 2 * time.Minute
)

// PoolConfig configures a Pool. Zero values take the defaults.
type PoolConfig struct {
	// Workers is the number of handlers running at once (default 8).
	Workers int
	// Queue is how many requests may wait for a worker (default 256).
	Queue int
	// Timeout bounds each handler call through its ctx (default 2m).
	Timeout time.Duration
	Logger  zerolog.Logger
	// Once reports whether none of a request's keys was seen before, and
	// remembers them all, at once (two copies racing must not each see the
	// other's first key); it dedupes Slack's redeliveries (see
	// Request.DedupeKey and EnvelopeKey). Nil means no dedupe. A worker
	// asks it just before running a request, never Submit: Slack's
	// acknowledgement does not wait for the store it may ask (a database
	// round trip when replicas share PostgreSQL).
	Once func(keys ...string) (first bool)
	// Observe, when set, is told what became of each submitted request:
	// "queued" or "busy" when it is submitted, and "duplicate" when a
	// worker drops a queued redelivery (for metrics).
	Observe func(kind Kind, result string)
}

// Submit results reported to PoolConfig.Observe.
const (
	SubmitQueued    = "queued"
	SubmitDuplicate = "duplicate"
	SubmitBusy      = "busy"
)

// PoolStats counts what a Pool did, for metrics and tests.
type PoolStats struct {
	Submitted, Duplicates, Busy, Handled, Panics, TimedOut uint64
}

// Pool runs a Handler on a bounded set of workers, each call with a timeout,
// recovering (logging and counting) panics.
type Pool struct {
	cfg   PoolConfig
	h     Handler
	log   zerolog.Logger
	queue chan Request

	mu       sync.Mutex // guards stopped, the close of queue, and dedupe+enqueue
	stopped  bool
	pendMu   sync.Mutex
	pendCond *sync.Cond
	pending  int // queued or running

	startOnce sync.Once
	stopOnce  sync.Once
	done      chan struct{}
	workers   sync.WaitGroup

	submitted, duplicates, busy, handled, panics, timedOut atomic.Uint64
}

// NewPool returns a Pool that runs h; call Start before requests can run.
func NewPool(cfg PoolConfig, h Handler) *Pool {
	if cfg.Workers <= 0 {
		cfg.Workers = defaultWorkers
	}
	if cfg.Queue <= 0 {
		cfg.Queue = defaultQueue
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = defaultTimeout
	}
	p := &Pool{
		cfg:   cfg,
		h:     h,
		log:   cfg.Logger.With().Str("component", "slackapp.pool").Logger(),
		queue: make(chan Request, cfg.Queue),
		done:  make(chan struct{}),
	}
	p.pendCond = sync.NewCond(&p.pendMu)
	return p
}

// Start launches the workers. Handlers get contexts derived from ctx; when ctx
// ends the pool stops as if Stop were called. Start is idempotent.
func (p *Pool) Start(ctx context.Context) {
	p.startOnce.Do(func() {
		for range p.cfg.Workers {
			p.workers.Go(func() {
				for req := range p.queue {
					if p.duplicate(req) {
						p.duplicates.Add(1)
						p.observe(req.Kind, SubmitDuplicate)
						p.finish()
						continue
					}
					p.run(ctx, req)
				}
			})
		}
		go func() {
			select {
			case <-ctx.Done():
				p.Stop()
			case <-p.done:
			}
		}()
	})
}

// Submit queues req. It returns ErrBusy when the queue is full or the pool is
// stopped. A duplicate delivery (Once reports false) is dropped by the
// worker that takes it, before it runs; Slack only needs the
// acknowledgement.
func (p *Pool) Submit(req Request) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		p.busy.Add(1)
		p.observe(req.Kind, SubmitBusy)
		return fmt.Errorf("submit %s: pool stopped: %w", req.Kind, ErrBusy)
	}
	// A delivery refused as busy has not used its dedupe key (a worker
	// marks it), so Slack's retry is accepted. Only senders holding p.mu
	// add to the queue, so room seen here stays free.
	if len(p.queue) >= cap(p.queue) {
		p.busy.Add(1)
		p.observe(req.Kind, SubmitBusy)
		return ErrBusy
	}
	p.pendMu.Lock()
	p.pending++
	p.pendMu.Unlock()
	p.queue <- req
	p.submitted.Add(1)
	p.observe(req.Kind, SubmitQueued)
	return nil
}

// duplicate marks every dedupe key of req and reports whether any was seen
// before. All keys are marked, not just up to the first seen one: a Socket
// Mode redelivery may come under a new envelope_id, and a later one under
// either id must still be recognised.
func (p *Pool) duplicate(req Request) bool {
	keys := req.dedupeKeys()
	if p.cfg.Once == nil || len(keys) == 0 {
		return false
	}
	if p.cfg.Once(keys...) {
		return false
	}
	p.log.Debug().Strs("dedupe_keys", keys).Str("kind", req.Kind.String()).Str("source", req.Source).
		Int("retry", req.Retry).Msg("duplicate delivery dropped")
	return true
}

func (p *Pool) observe(kind Kind, result string) {
	if p.cfg.Observe != nil {
		p.cfg.Observe(kind, result)
	}
}

// Wait blocks until the queue is empty and no handler is running.
func (p *Pool) Wait() {
	p.pendMu.Lock()
	for p.pending > 0 {
		p.pendCond.Wait()
	}
	p.pendMu.Unlock()
}

// Stop stops accepting requests, lets the workers drain the queue, and waits
// for them. If Start was never called, queued requests are dropped.
func (p *Pool) Stop() {
	p.stopOnce.Do(func() {
		p.mu.Lock()
		p.stopped = true
		close(p.queue)
		p.mu.Unlock()
		close(p.done)
	})
	p.startOnce.Do(func() {}) // a Start after Stop must not launch workers on a closed queue
	p.workers.Wait()
	// Without workers (never started) nothing drained the queue: account for it
	// so that Wait returns.
	for range p.queue {
		p.finish()
	}
}

// Stats returns the pool's counters.
func (p *Pool) Stats() PoolStats {
	return PoolStats{
		Submitted:  p.submitted.Load(),
		Duplicates: p.duplicates.Load(),
		Busy:       p.busy.Load(),
		Handled:    p.handled.Load(),
		Panics:     p.panics.Load(),
		TimedOut:   p.timedOut.Load(),
	}
}

func (p *Pool) finish() {
	p.pendMu.Lock()
	p.pending--
	if p.pending == 0 {
		p.pendCond.Broadcast()
	}
	p.pendMu.Unlock()
}

func (p *Pool) run(parent context.Context, req Request) {
	defer p.finish()
	ctx, cancel := context.WithTimeout(parent, p.cfg.Timeout)
	defer cancel()
	start := time.Now()
	defer func() {
		if v := recover(); v != nil {
			p.panics.Add(1)
			p.log.Error().
				Str("kind", req.Kind.String()).Str("source", req.Source).
				Str("user", req.UserID).Str("channel", req.ChannelID).
				Interface("panic", v).Bytes("stack", debug.Stack()).
				Msg("handler panicked")
		}
		p.handled.Add(1)
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			p.timedOut.Add(1)
			p.log.Warn().Str("kind", req.Kind.String()).Dur("took", time.Since(start)).Msg("handler timed out")
		}
	}()
	p.h.Handle(ctx, req)
}
