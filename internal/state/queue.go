package state

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// The handoff queue is how replicas sharing a database hand work to the
// leader: a webhook delivery accepted by any replica, a watch started by a
// command on a follower. An item stays until the leader has done it, so
// none is lost when a replica dies; its dedupe keys are once-markers
// written in the same transaction, so a redelivery that reaches another
// replica is dropped.

// Buckets of the handoff queue (schema v5).
var (
	bucketQueue   = []byte("queue")
	bucketResults = []byte("queue_results")
)

// Notify channels of the handoff queue.
const (
	// QueueChannel is notified when an item is queued.
	QueueChannel = "pipebot_queue"
	// ResultChannel is notified when an item is finished with a result.
	ResultChannel = "pipebot_queue_done"
)

func migrateQueue(tx Tx) error { return createBuckets(tx, bucketQueue, bucketResults) }

// QueueItem is one piece of work for the leader.
type QueueItem struct {
	ID         string    `json:"id"`
	Kind       string    `json:"kind"`
	Payload    []byte    `json:"payload"`
	EnqueuedAt time.Time `json:"enqueued_at"`
	// Started is set when a leader began the item; a leader that finds it
	// set knows that an earlier one may have done part of it.
	Started bool `json:"started,omitempty"`
}

// queueResult is a finished item's result, kept for ResultTTL for the
// replica that queued it.
type queueResult struct {
	ID         string    `json:"id"`
	Result     string    `json:"result"`
	FinishedAt time.Time `json:"finished_at"`
}

// ResultTTL is how long a finished item's result is kept.
const ResultTTL = 10 * time.Minute

// queueKey orders items by the time they were queued; the random half
// keeps keys apart without a shared counter that every enqueue would
// contend on.
func queueKey(at time.Time) []byte {
	k := binary.BigEndian.AppendUint64(nil, uint64(at.UnixNano()))
	var r [8]byte
	_, _ = rand.Read(r[:])
	return append(k, r[:]...)
}

func queueItemKey(id string) ([]byte, error) {
	k, err := hex.DecodeString(id)
	if err != nil || len(k) != 16 {
		return nil, fmt.Errorf("%w: queue item id %q", ErrInvalidKey, id)
	}
	return k, nil
}

// Enqueue queues an item of kind for the leader, unless one of keys was
// marked in namespace within ttl (MarkOnce's markers): then it writes
// nothing and queued is false. Otherwise the keys are marked in the same
// transaction. Listeners of QueueChannel are woken.
func (s *Store) Enqueue(kind string, payload []byte, namespace string, keys []string, ttl time.Duration) (id string, queued bool, err error) {
	if kind == "" {
		return "", false, errors.New("enqueue: kind is empty")
	}
	m, err := newOnceMarks(namespace, keys...)
	if err != nil {
		return "", false, fmt.Errorf("enqueue %s: %w", kind, err)
	}
	if len(keys) > 0 && ttl <= 0 {
		return "", false, fmt.Errorf("enqueue %s: ttl must be positive", kind)
	}
	err = s.db.Update(func(tx Tx) error {
		id, queued = "", false
		now := s.nowUTC()
		marked, err := m.marked(tx, now)
		if err != nil || marked {
			return err
		}
		if err := m.mark(tx, now.Add(ttl)); err != nil {
			return err
		}
		key := queueKey(now)
		id, queued = hex.EncodeToString(key), true
		if err := put(tx, bucketQueue, key, QueueItem{ID: id, Kind: kind, Payload: payload, EnqueuedAt: now}); err != nil {
			return err
		}
		return tx.Notify(QueueChannel)
	})
	if err != nil {
		return "", false, fmt.Errorf("enqueue %s: %w", kind, err)
	}
	return id, queued, nil
}

// Queued returns up to limit items, oldest first.
func (s *Store) Queued(limit int) ([]QueueItem, error) {
	var out []QueueItem
	err := s.db.View(func(tx Tx) error {
		out = nil
		return scan(tx, bucketQueue, nil, false, func(_ []byte, it QueueItem) error {
			if limit > 0 && len(out) >= limit {
				return ErrStopScan
			}
			out = append(out, it)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list queued items: %w", err)
	}
	return out, nil
}

// StartQueued marks an item as begun and returns it as it was (found is
// false when it is gone: another leader finished it).
func (s *Store) StartQueued(id string) (it QueueItem, found bool, err error) {
	key, err := queueItemKey(id)
	if err != nil {
		return QueueItem{}, false, err
	}
	err = s.db.Update(func(tx Tx) error {
		if found, err = get(tx, bucketQueue, key, &it); err != nil || !found {
			return err
		}
		started := it
		started.Started = true
		return put(tx, bucketQueue, key, started)
	})
	if err != nil {
		return QueueItem{}, false, fmt.Errorf("start queued item %s: %w", id, err)
	}
	return it, found, nil
}

// FinishQueued removes a done item; with a result, it keeps the result for
// ResultTTL (QueueResult) and wakes the listeners of ResultChannel.
func (s *Store) FinishQueued(id, result string) error {
	key, err := queueItemKey(id)
	if err != nil {
		return err
	}
	err = s.db.Update(func(tx Tx) error {
		if _, err := del(tx, bucketQueue, key); err != nil {
			return err
		}
		if result == "" {
			return nil
		}
		if err := put(tx, bucketResults, key, queueResult{ID: id, Result: result, FinishedAt: s.nowUTC()}); err != nil {
			return err
		}
		return tx.Notify(ResultChannel)
	})
	if err != nil {
		return fmt.Errorf("finish queued item %s: %w", id, err)
	}
	return nil
}

// QueueResult returns the result an item was finished with; found is false
// while it is not finished (or finished without one).
func (s *Store) QueueResult(id string) (result string, found bool, err error) {
	key, err := queueItemKey(id)
	if err != nil {
		return "", false, err
	}
	var r queueResult
	err = s.db.View(func(tx Tx) error {
		found, err = get(tx, bucketResults, key, &r)
		return err
	})
	if err != nil {
		return "", false, fmt.Errorf("read result of %s: %w", id, err)
	}
	return r.Result, found, nil
}

// PruneQueueResults deletes results older than ResultTTL and returns how
// many it removed.
func (s *Store) PruneQueueResults() (int, error) {
	cutoff := s.nowUTC().Add(-ResultTTL)
	n, err := prune(s, bucketResults, func(r queueResult) bool { return r.FinishedAt.Before(cutoff) })
	if err != nil {
		return n, fmt.Errorf("prune queue results: %w", err)
	}
	return n, nil
}
