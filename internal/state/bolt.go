package state

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// BoltOptions configures OpenBolt.
type BoltOptions struct {
	// Timeout bounds the wait for the file lock; zero means DefaultTimeout.
	Timeout time.Duration
	// ReadOnly opens the file for reading (pipebot migrate reads it so).
	ReadOnly bool
}

// boltEngine is the Engine of one bbolt file. bbolt serializes writers and
// holds the file lock, so one process has it all: every lease epoch is its.
type boltEngine struct {
	db *bolt.DB

	mu        sync.Mutex
	listeners map[string][]chan struct{}
}

// OpenBolt opens (creating it if needed and writable) the bbolt file at
// path as an Engine. It fails within Timeout if another process holds it.
func OpenBolt(path string, opts BoltOptions) (Engine, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.Timeout, ReadOnly: opts.ReadOnly})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("file is locked after %s; is another pipebot running?: %w", opts.Timeout, err)
		}
		return nil, err
	}
	return &boltEngine{db: db, listeners: map[string][]chan struct{}{}}, nil
}

func (e *boltEngine) View(_ context.Context, fn func(Tx) error) error {
	return e.db.View(func(tx *bolt.Tx) error { return fn(&boltTx{tx: tx, e: e}) })
}

func (e *boltEngine) Update(_ context.Context, fn func(Tx) error) error {
	return e.db.Update(func(tx *bolt.Tx) error { return fn(&boltTx{tx: tx, e: e}) })
}

// Exclusive is Update: bbolt has one writer at a time in one process.
func (e *boltEngine) Exclusive(ctx context.Context, fn func(Tx) error) error {
	return e.Update(ctx, fn)
}

func (e *boltEngine) Listen(ctx context.Context, channel string) (<-chan struct{}, error) {
	ch := make(chan struct{}, 1)
	e.mu.Lock()
	e.listeners[channel] = append(e.listeners[channel], ch)
	e.mu.Unlock()
	go func() {
		<-ctx.Done()
		e.mu.Lock()
		defer e.mu.Unlock()
		ls := e.listeners[channel]
		for i, l := range ls {
			if l == ch {
				e.listeners[channel] = append(ls[:i:i], ls[i+1:]...)
				break
			}
		}
		close(ch)
	}()
	return ch, nil
}

func (e *boltEngine) wake(channel string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, l := range e.listeners[channel] {
		select {
		case l <- struct{}{}:
		default:
		}
	}
}

func (e *boltEngine) Ping(context.Context) error {
	return e.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketMeta) == nil {
			return errors.New("meta bucket missing")
		}
		return nil
	})
}

func (e *boltEngine) Close() error { return e.db.Close() }

// boltTx is a Tx over one bbolt transaction. Reads of an undeclared bucket
// find it empty; writes to one fail, since a migration should have declared
// it.
type boltTx struct {
	tx *bolt.Tx
	e  *boltEngine
}

func (t *boltTx) bucket(name []byte) (*bolt.Bucket, error) {
	b := t.tx.Bucket(name)
	if b == nil {
		return nil, fmt.Errorf("bucket %s missing", name)
	}
	return b, nil
}

func (t *boltTx) Get(bucket, key []byte) ([]byte, error) {
	b := t.tx.Bucket(bucket)
	if b == nil {
		return nil, nil
	}
	return b.Get(key), nil
}

func (t *boltTx) Put(bucket, key, value []byte) error {
	b, err := t.bucket(bucket)
	if err != nil {
		return err
	}
	return b.Put(key, value)
}

func (t *boltTx) Delete(bucket, key []byte) (bool, error) {
	b := t.tx.Bucket(bucket)
	if b == nil {
		return false, nil
	}
	existed := b.Get(key) != nil
	if err := b.Delete(key); err != nil {
		return false, err
	}
	return existed, nil
}

func (t *boltTx) Scan(bucket, prefix []byte, reverse bool, fn func(k, v []byte) error) error {
	b := t.tx.Bucket(bucket)
	if b == nil {
		return nil
	}
	c := b.Cursor()
	var k, v []byte
	switch {
	case !reverse:
		k, v = c.Seek(prefix)
	case len(prefix) == 0:
		k, v = c.Last()
	default:
		// The last key with the prefix is just before the first key past
		// every key with it.
		if end := PrefixEnd(prefix); end == nil {
			k, v = c.Last()
		} else if k, _ = c.Seek(end); k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
	}
	for ; k != nil && bytes.HasPrefix(k, prefix); k, v = step(c, reverse) {
		if v == nil {
			continue // a nested bucket; pipebot keeps none
		}
		if err := fn(k, v); err != nil {
			if errors.Is(err, ErrStopScan) {
				return nil
			}
			return err
		}
	}
	return nil
}

func (t *boltTx) ScanFrom(bucket, from []byte, fn func(k, v []byte) error) error {
	b := t.tx.Bucket(bucket)
	if b == nil {
		return nil
	}
	c := b.Cursor()
	for k, v := c.Seek(from); k != nil; k, v = c.Next() {
		if v == nil {
			continue
		}
		if err := fn(k, v); err != nil {
			if errors.Is(err, ErrStopScan) {
				return nil
			}
			return err
		}
	}
	return nil
}

func step(c *bolt.Cursor, reverse bool) ([]byte, []byte) {
	if reverse {
		return c.Prev()
	}
	return c.Next()
}

func (t *boltTx) Count(bucket []byte) (int, error) {
	b := t.tx.Bucket(bucket)
	if b == nil {
		return 0, nil
	}
	return b.Stats().KeyN, nil
}

func (t *boltTx) NextSequence(bucket []byte) (uint64, error) {
	b, err := t.bucket(bucket)
	if err != nil {
		return 0, err
	}
	return b.NextSequence()
}

func (t *boltTx) Sequence(bucket []byte) (uint64, error) {
	b := t.tx.Bucket(bucket)
	if b == nil {
		return 0, nil
	}
	return b.Sequence(), nil
}

func (t *boltTx) SetSequence(bucket []byte, n uint64) error {
	b, err := t.bucket(bucket)
	if err != nil {
		return err
	}
	return b.SetSequence(n)
}

func (t *boltTx) CreateBucket(name []byte) error {
	_, err := t.tx.CreateBucketIfNotExists(name)
	return err
}

func (t *boltTx) Buckets() ([][]byte, error) {
	var names [][]byte
	err := t.tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
		names = append(names, bytes.Clone(name))
		return nil
	})
	return names, err
}

// Fence accepts every epoch: the file lock makes this process the only one.
func (t *boltTx) Fence(int64) error { return nil }

func (t *boltTx) Notify(channel string) error {
	t.tx.OnCommit(func() { t.e.wake(channel) })
	return nil
}
