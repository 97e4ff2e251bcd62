// Package state owns pipebot's embedded bbolt database: its buckets, the
// keys inside them, the JSON records stored as values and the numbered
// schema migrations. It is a leaf package: it knows nothing of Slack or
// GitLab clients, and nothing about bbolt leaks through its API.
package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
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

// Options configures Open.
type Options struct {
	// Timeout bounds the wait for the file lock; zero means DefaultTimeout.
	Timeout time.Duration
	// Now is the clock used for timestamps and expiry; nil means time.Now.
	Now func() time.Time
}

// Store is pipebot's persistent state. It is safe for concurrent use.
type Store struct {
	db  *bolt.DB
	now func() time.Time
}

// Open opens (creating if needed) the database at path and migrates it to the
// schema this binary knows. It fails if another process holds the file, if a
// migration fails, or if the schema is newer than this binary (ErrSchemaTooNew).
func Open(path string, opts Options) (*Store, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.Timeout})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("open state %s: file is locked after %s; is another pipebot running?: %w", path, opts.Timeout, err)
		}
		return nil, fmt.Errorf("open state %s: %w", path, err)
	}
	if err := migrate(db, migrations); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open state %s: %w", path, err)
	}
	return &Store{db: db, now: opts.Now}, nil
}

// Close releases the database file.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close state: %w", err)
	}
	return nil
}

// Ping reports whether the database is open and readable (for /readyz).
func (s *Store) Ping() error {
	err := s.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketMeta) == nil {
			return errors.New("meta bucket missing")
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("ping state: %w", err)
	}
	return nil
}

// SchemaVersion returns the schema version recorded in the database.
func (s *Store) SchemaVersion() (int, error) {
	var v int
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		v, err = readVersion(tx)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}

// nowUTC returns the store clock in UTC. UTC also strips the monotonic
// reading, so a stored time reads back equal to the one returned.
func (s *Store) nowUTC() time.Time { return s.now().UTC() }

// get decodes the record at key in bucket into v; found is false when absent.
func get(tx *bolt.Tx, bucket, key []byte, v any) (found bool, err error) {
	b, err := bucketOf(tx, bucket)
	if err != nil {
		return false, err
	}
	data := b.Get(key)
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
func put(tx *bolt.Tx, bucket, key []byte, v any) error {
	b, err := bucketOf(tx, bucket)
	if err != nil {
		return err
	}
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s record: %w", bucket, err)
	}
	if err := b.Put(key, data); err != nil {
		return fmt.Errorf("put %s record: %w", bucket, err)
	}
	return nil
}

// del removes key from bucket and reports whether it was there.
func del(tx *bolt.Tx, bucket, key []byte) (existed bool, err error) {
	b, err := bucketOf(tx, bucket)
	if err != nil {
		return false, err
	}
	existed = b.Get(key) != nil
	if err := b.Delete(key); err != nil {
		return false, fmt.Errorf("delete %s record: %w", bucket, err)
	}
	return existed, nil
}

// each decodes every record of bucket in key order and calls fn with it.
func each[T any](tx *bolt.Tx, bucket []byte, fn func(T) error) error {
	b, err := bucketOf(tx, bucket)
	if err != nil {
		return err
	}
	return b.ForEach(func(_, data []byte) error {
		var v T
		if err := unmarshal(bucket, data, &v); err != nil {
			return err
		}
		return fn(v)
	})
}

// bucketOf returns the named bucket, or an error if migrations did not create it.
func bucketOf(tx *bolt.Tx, name []byte) (*bolt.Bucket, error) {
	b := tx.Bucket(name)
	if b == nil {
		return nil, fmt.Errorf("bucket %s missing", name)
	}
	return b, nil
}
