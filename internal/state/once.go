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

// MarkOnce records (namespace, key) for ttl and reports whether this is the
// first mark within that time. Slack retries interactions and GitLab may
// deliver a webhook twice; callers act only when first is true.
func (s *Store) MarkOnce(namespace, key string, ttl time.Duration) (first bool, err error) {
	k, err := onceKey(namespace, key)
	if err != nil {
		return false, fmt.Errorf("mark once in %s: %w", namespace, err)
	}
	if ttl <= 0 {
		return false, fmt.Errorf("mark once in %s: %w", namespace, errors.New("ttl must be positive"))
	}
	err = s.db.Update(func(tx Tx) error {
		now := s.nowUTC()
		var r onceRecord
		found, err := get(tx, bucketOnce, k, &r)
		if err != nil {
			return err
		}
		if found && now.Before(r.ExpiresAt) {
			first = false
			return nil
		}
		first = true
		return put(tx, bucketOnce, k, onceRecord{Namespace: namespace, Key: key, ExpiresAt: now.Add(ttl)})
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
