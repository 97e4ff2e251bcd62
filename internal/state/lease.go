package state

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Replicated reports whether several pipebot processes may share this
// store (its engine keeps leases: PostgreSQL). A bbolt store belongs to one
// process, which is always the leader.
func (s *Store) Replicated() bool {
	_, ok := s.db.engine.(Leaser)
	return ok
}

// AcquireLeadership takes the leader lease for holder for ttl when it is
// free or expired, or renews holder's lease. On a store that is not
// Replicated it is always held, at epoch 1.
func (s *Store) AcquireLeadership(ctx context.Context, holder string, ttl time.Duration) (Lease, error) {
	l, ok := s.db.engine.(Leaser)
	if !ok {
		return Lease{Holder: holder, Epoch: 1, Held: true, Remaining: ttl}, nil
	}
	lease, err := l.AcquireLease(ctx, LeaderLease, holder, ttl)
	if err != nil {
		return Lease{}, fmt.Errorf("acquire leadership: %w", err)
	}
	return lease, nil
}

// ReleaseLeadership ends holder's lease at epoch now, so that another
// replica takes over at once (a clean shutdown).
func (s *Store) ReleaseLeadership(ctx context.Context, holder string, epoch int64) error {
	l, ok := s.db.engine.(Leaser)
	if !ok {
		return nil
	}
	if err := l.ReleaseLease(ctx, LeaderLease, holder, epoch); err != nil {
		return fmt.Errorf("release leadership: %w", err)
	}
	return nil
}

// ErrNotLeader is what a fence function returns when this process does
// not hold the lease (or can no longer be sure it does).
var ErrNotLeader = errors.New("state: this replica is not the leader")

// Fenced returns a Store on the same database whose every write
// transaction first checks, inside the transaction, that the leader lease
// is still at the epoch that epoch returns, and changes nothing otherwise
// (ErrFenced; epoch's own error, such as ErrNotLeader, is returned as is).
// Reads are not fenced. The leader's watcher writes through it, so a leader
// paused past its lease records nothing after another took over. Close the
// original Store, not this one.
func (s *Store) Fenced(epoch func() (int64, error)) *Store {
	f := *s
	f.db.fence = epoch
	return &f
}

// Listen returns a channel that receives a value soon after a write to
// channel's subject was committed by any process sharing the store (the
// handoff queue, QueueChannel). It closes when ctx ends.
func (s *Store) Listen(ctx context.Context, channel string) (<-chan struct{}, error) {
	ch, err := s.db.engine.Listen(ctx, channel)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", channel, err)
	}
	return ch, nil
}
