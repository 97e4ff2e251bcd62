package insights

import (
	"context"
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/rs/zerolog"

	"github.com/pipebot/pipebot/internal/cronspec"
	"github.com/pipebot/pipebot/internal/state"
)

// digestStore is the store's digests.
type digestStore interface {
	Digests() ([]state.Digest, error)
	ClaimDigestSlot(id int64, slot time.Time) (state.Digest, bool, error)
	FinishDigestSlot(id int64, slot time.Time) error
}

var _ digestStore = (*state.Store)(nil)

// Runner defaults.
const (
	// DefaultMaxLate is how late a slot may still be posted: one missed
	// while pipebot was down is posted at start when it is less late.
	DefaultMaxLate = time.Hour
	// DefaultDigestInterval is how often Run looks for due slots.
	DefaultDigestInterval = 30 * time.Second
	// maxSlotSteps bounds the walk from a digest's last slot to now (a
	// minutely cron after a month of downtime is 43,200 steps).
	maxSlotSteps = 100_000
)

// RunnerConfig configures a Runner.
type RunnerConfig struct {
	Store digestStore
	// Post builds and posts digest d's report for slot. It must be
	// idempotent: it may run again for a slot whose earlier run failed or
	// was cut short by a crash (PostDigest looks in the channel for the
	// message it stamped before posting). An error leaves the slot to be
	// tried again while it is less than MaxLate late.
	Post func(ctx context.Context, d state.Digest, slot time.Time) error
	// GiveUp, when set, is told of a slot whose posts kept failing until it
	// was MaxLate late, with the last error (to tell the channel).
	GiveUp func(ctx context.Context, d state.Digest, slot time.Time, err error) error
	Now    func() time.Time
	Logger zerolog.Logger
	// MaxLate defaults to DefaultMaxLate; Interval to DefaultDigestInterval.
	MaxLate, Interval time.Duration
}

// Runner posts digests on their cron schedules. Each slot is claimed in the
// store before it is posted and marked done after, and Post finds a message
// it already posted, so a slot is posted once across failures, restarts and
// (on a shared database, leader only) replicas;
// after downtime only the latest missed slot of a digest is considered, and
// posted when less than MaxLate late, else skipped with a log line. Run
// loops on a timer; Tick does one round synchronously (tests, and a caller
// that runs it only while it leads).
type Runner struct {
	cfg RunnerConfig
	log zerolog.Logger

	// failed holds the last error of each slot whose post failed in this
	// process, so that giving up on it tells the channel; a slot left
	// pending by a crash is skipped quietly instead (downtime).
	failed map[slotKey]error
}

type slotKey struct {
	digest int64
	slot   int64 // unix seconds
}

// NewRunner returns a Runner. It does no I/O.
func NewRunner(cfg RunnerConfig) *Runner {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxLate <= 0 {
		cfg.MaxLate = DefaultMaxLate
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultDigestInterval
	}
	return &Runner{cfg: cfg, log: cfg.Logger.With().Str("component", "digests").Logger(), failed: map[slotKey]error{}}
}

// Run ticks until ctx ends, starting at once: a slot missed while pipebot
// was down is handled at start.
func (r *Runner) Run(ctx context.Context) {
	t := time.NewTicker(r.cfg.Interval)
	defer t.Stop()
	for {
		if err := r.Tick(ctx, r.cfg.Now()); err != nil && ctx.Err() == nil {
			r.log.Warn().Err(err).Msg("digest round")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Tick posts every digest slot due at now. Errors of one digest are logged
// and do not stop the others; the first is returned.
func (r *Runner) Tick(ctx context.Context, now time.Time) error {
	ds, err := r.cfg.Store.Digests()
	if err != nil {
		return fmt.Errorf("list digests: %w", err)
	}
	var firstErr error
	for _, d := range ds {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		slot, ok, err := DueSlot(d, now)
		if err != nil {
			r.log.Warn().Err(err).Int64("digest", d.ID).Msg("digest schedule")
			firstErr = first(firstErr, err)
			continue
		}
		if !ok {
			if d.Pending() {
				// A claimed slot not finished: a post that failed, or a
				// crash after the claim.
				firstErr = first(firstErr, r.finish(ctx, d, d.LastSlot, now))
			}
			continue
		}
		// A newer slot supersedes a pending one: only the latest is posted.
		d, claimed, err := r.cfg.Store.ClaimDigestSlot(d.ID, slot)
		if err != nil {
			firstErr = first(firstErr, err)
			continue
		}
		if !claimed {
			continue
		}
		firstErr = first(firstErr, r.finish(ctx, d, slot, now))
	}
	return firstErr
}

// finish posts digest d's claimed slot and records it done, or, past
// MaxLate, gives it up: with a word to the channel when posts failed in
// this process, quietly (a log line) when pipebot was down. A failed post
// leaves the slot pending for the next round.
func (r *Runner) finish(ctx context.Context, d state.Digest, slot, now time.Time) error {
	key := slotKey{d.ID, slot.Unix()}
	log := r.log.With().Int64("digest", d.ID).Str("channel", d.Channel).Str("project", d.Project).
		Time("slot", slot).Dur("late", now.Sub(slot)).Logger()
	if now.Sub(slot) >= r.cfg.MaxLate {
		lastErr, failedHere := r.failed[key]
		delete(r.failed, key)
		switch {
		case failedHere && r.cfg.GiveUp != nil:
			log.Warn().Err(lastErr).Msg("digest slot given up: posts failed for an hour")
			if err := r.cfg.GiveUp(ctx, d, slot, lastErr); err != nil {
				log.Warn().Err(err).Msg("tell the channel a digest was given up")
			}
		default:
			log.Warn().Msg("digest slot skipped: more than an hour late")
		}
		return r.cfg.Store.FinishDigestSlot(d.ID, slot)
	}
	if err := r.cfg.Post(ctx, d, slot); err != nil {
		if ctx.Err() == nil {
			r.failed[key] = err
		}
		log.Warn().Err(err).Msg("digest not posted yet; trying again next round")
		return err
	}
	delete(r.failed, key)
	if err := r.cfg.Store.FinishDigestSlot(d.ID, slot); err != nil {
		return err
	}
	log.Info().Msg("digest posted")
	return nil
}

// DueSlot returns the latest slot of d at or before now that is after its
// last claimed slot (or its creation); ok is false when none is.
func DueSlot(d state.Digest, now time.Time) (slot time.Time, ok bool, err error) {
	sched, loc, err := digestSchedule(d)
	if err != nil {
		return time.Time{}, false, err
	}
	anchor := d.CreatedAt
	if d.LastSlot.After(anchor) {
		anchor = d.LastSlot
	}
	s := nextSlot(sched, loc, anchor)
	if s.IsZero() || s.After(now) {
		return time.Time{}, false, nil
	}
	// Far behind (a long downtime): start the walk an hour and a bit
	// before now, since anything older can only be skipped anyway.
	if skip := now.Add(-DefaultMaxLate - time.Minute); s.Before(skip) {
		if n := nextSlot(sched, loc, skip); !n.IsZero() && !n.After(now) {
			s = n
		}
	}
	for range maxSlotSteps {
		n := nextSlot(sched, loc, s)
		if n.IsZero() || n.After(now) {
			break
		}
		s = n
	}
	return s, true, nil
}

// NextSlot returns d's first slot after t (in d's zone); zero when the cron
// never fires.
func NextSlot(d state.Digest, t time.Time) (time.Time, error) {
	sched, loc, err := digestSchedule(d)
	if err != nil {
		return time.Time{}, err
	}
	return nextSlot(sched, loc, t), nil
}

// digestSchedule reads a stored digest's cron and zone.
func digestSchedule(d state.Digest) (cron.Schedule, *time.Location, error) {
	loc, err := time.LoadLocation(d.Location)
	if err != nil {
		return nil, nil, fmt.Errorf("digest %d: zone %q: %w", d.ID, d.Location, err)
	}
	sched, err := cronspec.Parse(d.Spec)
	if err != nil {
		return nil, nil, fmt.Errorf("digest %d: cron %q: %w", d.ID, d.Spec, err)
	}
	return sched, loc, nil
}

// nextSlot is the first cron time after t in loc. A wall-clock time that
// occurs twice (01:30 on the day London falls back) is one slot, not two.
func nextSlot(sched cron.Schedule, loc *time.Location, t time.Time) (next time.Time) {
	defer func() {
		if recover() != nil {
			next = time.Time{}
		}
	}()
	prev := t.In(loc)
	for range 4 {
		n := sched.Next(prev)
		if n.IsZero() {
			return time.Time{}
		}
		if n.In(loc).Format("2006-01-02 15:04") != t.In(loc).Format("2006-01-02 15:04") {
			return n
		}
		prev = n
	}
	return time.Time{}
}
