package state

import (
	"bytes"
	"context"
	"errors"
	"time"
)

// Engine is the transactional key-value database a Store keeps its records
// in: named buckets of byte keys in bytewise order, each key holding one
// value. bbolt (OpenBolt, the embedded default) and PostgreSQL
// (internal/state/postgres) implement it, and every record type of this
// package is written once, against Tx, so that it behaves the same on both.
type Engine interface {
	// View runs fn in a read-only transaction that sees one consistent
	// snapshot. fn may run more than once, as Update's.
	View(ctx context.Context, fn func(Tx) error) error
	// Update runs fn in a read-write transaction: all of its writes happen
	// or none does, and it is serializable with every other Update, from
	// this process or another sharing the database. An engine may run fn
	// more than once (PostgreSQL retries a transaction that lost a race), so
	// fn must act only through tx and must set, not accumulate into, the
	// variables it fills.
	Update(ctx context.Context, fn func(Tx) error) error
	// Exclusive runs fn as Update does, and one at a time across every
	// process sharing the database, each seeing what the one before wrote
	// (schema migrations).
	Exclusive(ctx context.Context, fn func(Tx) error) error
	// Listen returns a channel that receives a value soon after a committed
	// transaction called Notify(channel), in any process sharing the
	// database. Wake-ups may be coalesced; the channel closes when ctx ends.
	Listen(ctx context.Context, channel string) (<-chan struct{}, error)
	// Ping reports whether the database answers.
	Ping(ctx context.Context) error
	Close() error
}

// Tx is one transaction of an Engine. Byte slices it returns are valid only
// until the transaction ends; the record helpers decode them at once.
type Tx interface {
	// Get returns the value at key in bucket, or nil when there is none.
	Get(bucket, key []byte) ([]byte, error)
	// Put stores value at key in bucket.
	Put(bucket, key, value []byte) error
	// Delete removes key from bucket and reports whether it was there.
	Delete(bucket, key []byte) (existed bool, err error)
	// Scan calls fn with each key of bucket that starts with prefix (all
	// keys for an empty prefix) and its value, in key order, or in reverse
	// order. fn returning ErrStopScan ends the scan without an error. fn
	// may read through tx but must not write to bucket.
	Scan(bucket, prefix []byte, reverse bool, fn func(k, v []byte) error) error
	// ScanFrom calls fn with each key of bucket from the first at or after
	// from on, in key order, as Scan does: a long walk split over several
	// transactions resumes where the last one stopped.
	ScanFrom(bucket, from []byte, fn func(k, v []byte) error) error
	// Count returns the number of keys in bucket.
	Count(bucket []byte) (int, error)
	// NextSequence returns the bucket's next sequence number, starting at 1.
	NextSequence(bucket []byte) (uint64, error)
	// Sequence returns the bucket's last sequence number (0 for none).
	Sequence(bucket []byte) (uint64, error)
	// SetSequence sets the bucket's last sequence number (pipebot migrate).
	SetSequence(bucket []byte, n uint64) error
	// CreateBucket declares bucket; it is not an error if it exists.
	// Migrations declare every bucket: bbolt refuses writes to an
	// undeclared one.
	CreateBucket(name []byte) error
	// Buckets lists the buckets that hold something (bbolt: every declared
	// bucket), in name order.
	Buckets() ([][]byte, error)
	// Fence fails with ErrFenced unless epoch is LeaderLease's current
	// epoch, and keeps it so until the transaction ends. An engine without
	// leases (bbolt: one process) accepts every epoch.
	Fence(epoch int64) error
	// Notify wakes the listeners of channel once the transaction commits.
	Notify(channel string) error
}

// PrefixEnd returns the smallest key greater than every key starting with
// prefix, or nil when there is none (the prefix is all 0xff bytes): an
// engine's Scan reads a prefix as the key range [prefix, PrefixEnd).
func PrefixEnd(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// ErrStopScan ends a Tx.Scan early; Scan then returns nil.
var ErrStopScan = errors.New("state: stop scan")

// ErrUnavailable wraps the errors of a database that cannot be reached (a
// PostgreSQL outage): the caller may say so and try again later.
var ErrUnavailable = errors.New("state: database unavailable")

// ErrFenced is returned by a write made on behalf of a leader whose lease
// has passed to another process (Store.Fenced): it changed nothing.
var ErrFenced = errors.New("state: not the leader any more")

// Leaser is an Engine that keeps the leader lease replicas share
// (PostgreSQL). The expiry is kept on the database's clock.
type Leaser interface {
	// AcquireLease takes the lease called name for holder for ttl when it is
	// free or expired, or renews it when holder has it. The epoch grows each
	// time the lease changes hands or lapses.
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (Lease, error)
	// ReleaseLease ends holder's lease at epoch now, so that another
	// replica may take it at once (a clean shutdown).
	ReleaseLease(ctx context.Context, name, holder string, epoch int64) error
}

// LeaderLease is the lease whose holder polls GitLab and posts
// notifications, and whose epoch Tx.Fence checks.
const LeaderLease = "leader"

// LeaseChannel is the Listen channel on which a released lease is
// announced, so that a waiting replica takes it at once.
const LeaseChannel = "pipebot_lease"

// Lease is the state of a leader lease after an AcquireLease.
type Lease struct {
	Holder string // who has it
	Epoch  int64  // its term; fenced writes carry it
	Held   bool   // the caller has it
	// Remaining is how long the lease lasts from when the database answered:
	// the caller's until it is renewed (Held), another's until it may be
	// taken.
	Remaining time.Duration
}
