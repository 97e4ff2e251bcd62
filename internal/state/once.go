package state

import (
	"errors"
	"fmt"
	"time"
)

// onceRecord is a once-only marker, remembered until ExpiresAt.
type onceRecord struct {
	Namespace string    `json:"namespace"`
	Key       string    `json:"key"`
	ExpiresAt time.Time `json:"expires_at"`
}

// onceMarks are the once-only markers of one delivery's keys in a
// namespace: every way of marking and checking them goes through it.
type onceMarks struct {
	namespace string
	keys      []string
	ks        [][]byte
}

func newOnceMarks(namespace string, keys ...string) (onceMarks, error) {
	m := onceMarks{namespace: namespace, keys: keys, ks: make([][]byte, len(keys))}
	for i, k := range keys {
		var err error
		if m.ks[i], err = onceKey(namespace, k); err != nil {
			return onceMarks{}, err
		}
	}
	return m, nil
}

// marked reports whether any of the markers is unexpired at now.
func (m onceMarks) marked(tx Tx, now time.Time) (bool, error) {
	for _, k := range m.ks {
		var r onceRecord
		found, err := get(tx, bucketOnce, k, &r)
		if err != nil {
			return false, err
		}
		if found && now.Before(r.ExpiresAt) {
			return true, nil
		}
	}
	return false, nil
}

// mark writes every marker, expiring at expires.
func (m onceMarks) mark(tx Tx, expires time.Time) error {
	for i, k := range m.ks {
		if err := put(tx, bucketOnce, k, onceRecord{Namespace: m.namespace, Key: m.keys[i], ExpiresAt: expires}); err != nil {
			return err
		}
	}
	return nil
}

// MarkOnce records (namespace, key) for ttl and reports whether this is the
// first mark within that time. Slack retries interactions and GitLab may
// deliver a webhook twice; callers act only when first is true.
func (s *Store) MarkOnce(namespace, key string, ttl time.Duration) (first bool, err error) {
	m, err := newOnceMarks(namespace, key)
	if err != nil {
		return false, fmt.Errorf("mark once in %s: %w", namespace, err)
	}
	if ttl <= 0 {
		return false, fmt.Errorf("mark once in %s: %w", namespace, errors.New("ttl must be positive"))
	}
	err = s.db.Update(func(tx Tx) error {
		now := s.nowUTC()
		marked, err := m.marked(tx, now)
		if err != nil {
			return err
		}
		first = !marked
		if marked {
			return nil
		}
		return m.mark(tx, now.Add(ttl))
	})
	if err != nil {
		return false, fmt.Errorf("mark once in %s: %w", namespace, err)
	}
	return first, nil
}

// PruneOnce deletes expired markers and returns how many it removed.
func (s *Store) PruneOnce() (removed int, err error) {
	now := s.nowUTC()
	removed, err = prune(s, bucketOnce, func(r onceRecord) bool { return !now.Before(r.ExpiresAt) })
	if err != nil {
		return removed, fmt.Errorf("prune once markers: %w", err)
	}
	return removed, nil
}
