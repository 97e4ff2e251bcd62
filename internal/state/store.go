// Package state owns pipebot's persistent state: its buckets, the keys
// inside them, the JSON records stored as values and the numbered schema
// migrations. Records are written once, against a transactional key-value
// Engine that the embedded bbolt file (the default) and PostgreSQL
// (internal/state/postgres, for several replicas) both implement. It is a
// leaf package: it knows nothing of Slack or GitLab clients, and nothing
// about either database leaks through its API.
package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"time"
)

// DefaultTimeout is how long Open waits for the file lock when
// Options.Timeout is zero. bbolt waits forever without a timeout, which would
// hang a second pipebot started on the same file.
const DefaultTimeout = time.Second

// ErrNotFound is returned when an update targets a record that does not exist.
var ErrNotFound = errors.New("state: not found")

// ErrSchemaTooNew is returned by Open when the database was written by a newer
// pipebot whose schema this binary does not know.
var ErrSchemaTooNew = errors.New("state: database schema is newer than this pipebot")

// ErrInvalidKey is returned when a key part is empty, negative or contains
// the key separator.
var ErrInvalidKey = errors.New("state: invalid key")

// DefaultOpTimeout bounds one store operation on an engine that can wait
// (PostgreSQL) when Options.OpTimeout is zero. Store methods take no
// context: an operation that cannot finish in this time fails, wrapping
// ErrUnavailable when the database is unreachable.
const DefaultOpTimeout = 5 * time.Second

// Options configures Open and New.
type Options struct {
	// Timeout bounds the wait for the file lock; zero means DefaultTimeout.
	Timeout time.Duration
	// Now is the clock used for timestamps and expiry; nil means time.Now.
	Now func() time.Time
	// OpTimeout bounds each operation; zero means DefaultOpTimeout.
	OpTimeout time.Duration
}

// Store is pipebot's persistent state. It is safe for concurrent use.
type Store struct {
	db  kvdb
	now func() time.Time
}

// kvdb runs the store's transactions on its engine, each bounded by the
// operation timeout and, for a fenced store, checked against the lease.
type kvdb struct {
	engine  Engine
	timeout time.Duration
	// fence, when set, gives the lease epoch every write must still hold.
	fence func() (int64, error)
}

func (d kvdb) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d.timeout)
}

// View runs fn in a read-only transaction.
func (d kvdb) View(fn func(tx Tx) error) error {
	ctx, cancel := d.ctx()
	defer cancel()
	return d.engine.View(ctx, fn)
}

// Update runs fn in a read-write transaction; fn may run more than once
// (see Engine.Update). On a fenced store the transaction first checks the
// lease epoch and changes nothing when it moved on (ErrFenced).
func (d kvdb) Update(fn func(tx Tx) error) error {
	ctx, cancel := d.ctx()
	defer cancel()
	if d.fence == nil {
		return d.engine.Update(ctx, fn)
	}
	epoch, err := d.fence()
	if err != nil {
		return err
	}
	return d.engine.Update(ctx, func(tx Tx) error {
		if err := tx.Fence(epoch); err != nil {
			return err
		}
		return fn(tx)
	})
}

// Open opens (creating if needed) the bbolt database at path and migrates it
// to the schema this binary knows. It fails if another process holds the
// file, if a migration fails, or if the schema is newer than this binary
// (ErrSchemaTooNew).
func Open(path string, opts Options) (*Store, error) {
	e, err := OpenBolt(path, BoltOptions{Timeout: opts.Timeout})
	if err != nil {
		return nil, fmt.Errorf("open state %s: %w", path, err)
	}
	s, err := New(e, opts)
	if err != nil {
		_ = e.Close()
		return nil, fmt.Errorf("open state %s: %w", path, err)
	}
	return s, nil
}

// New returns a Store on e, migrated to the schema this binary knows; it
// fails if a migration fails or the schema is newer (ErrSchemaTooNew). The
// Store owns e: Close closes it.
func New(e Engine, opts Options) (*Store, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.OpTimeout <= 0 {
		opts.OpTimeout = DefaultOpTimeout
	}
	s := &Store{db: kvdb{engine: e, timeout: opts.OpTimeout}, now: opts.Now}
	if err := s.migrate(migrations); err != nil {
		return nil, err
	}
	return s, nil
}

// Engine returns the engine the store keeps its records in.
func (s *Store) Engine() Engine { return s.db.engine }

// Close releases the database.
func (s *Store) Close() error {
	if err := s.db.engine.Close(); err != nil {
		return fmt.Errorf("close state: %w", err)
	}
	return nil
}

// Ping reports whether the database is open and answers (for /readyz).
func (s *Store) Ping() error {
	ctx, cancel := s.db.ctx()
	defer cancel()
	if err := s.db.engine.Ping(ctx); err != nil {
		return fmt.Errorf("ping state: %w", err)
	}
	return nil
}

// SchemaVersion returns the schema version recorded in the database.
func (s *Store) SchemaVersion() (int, error) {
	ctx, cancel := s.db.ctx()
	defer cancel()
	return SchemaVersionOf(ctx, s.db.engine)
}

// nowUTC returns the store clock in UTC. UTC also strips the monotonic
// reading, so a stored time reads back equal to the one returned.
func (s *Store) nowUTC() time.Time { return s.now().UTC() }

// get decodes the record at key in bucket into v, a pointer, which it
// zeroes first (a transaction run again starts from scratch); found is
// false when absent.
func get(tx Tx, bucket, key []byte, v any) (found bool, err error) {
	reflect.ValueOf(v).Elem().SetZero()
	data, err := tx.Get(bucket, key)
	if err != nil {
		return false, fmt.Errorf("get %s record: %w", bucket, err)
	}
	if data == nil {
		return false, nil
	}
	if err := unmarshal(bucket, data, v); err != nil {
		return false, err
	}
	return true, nil
}

// unmarshal decodes a record of bucket. Decoding copies the bytes, so the
// result outlives the transaction.
func unmarshal(bucket, data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decode %s record: %w", bucket, err)
	}
	return nil
}

// put encodes v as JSON and stores it at key in bucket.
func put(tx Tx, bucket, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s record: %w", bucket, err)
	}
	if err := tx.Put(bucket, key, data); err != nil {
		return fmt.Errorf("put %s record: %w", bucket, err)
	}
	return nil
}

// del removes key from bucket and reports whether it was there.
func del(tx Tx, bucket, key []byte) (existed bool, err error) {
	existed, err = tx.Delete(bucket, key)
	if err != nil {
		return false, fmt.Errorf("delete %s record: %w", bucket, err)
	}
	return existed, nil
}

// each decodes every record of bucket in key order and calls fn with it.
func each[T any](tx Tx, bucket []byte, fn func(T) error) error {
	return scan(tx, bucket, nil, false, func(_ []byte, v T) error { return fn(v) })
}

// scan decodes the records of bucket whose key starts with prefix, in key
// order or in reverse, and calls fn with each key and record; fn returns
// ErrStopScan to stop. The key is valid only during fn.
func scan[T any](tx Tx, bucket, prefix []byte, reverse bool, fn func(key []byte, v T) error) error {
	err := tx.Scan(bucket, prefix, reverse, func(k, data []byte) error {
		var v T
		if err := unmarshal(bucket, data, &v); err != nil {
			return err
		}
		return fn(k, v)
	})
	if err != nil && !errors.Is(err, ErrStopScan) {
		return err
	}
	return nil
}
