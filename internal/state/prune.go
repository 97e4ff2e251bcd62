package state

import "fmt"

// pruneChunk bounds the records one pruning transaction reads: a large
// bucket is pruned over several short transactions, each resuming where
// the last stopped, so none outlasts the operation timeout or holds up
// the writes racing it.
const pruneChunk = 1000

// prune deletes the records of bucket for which old reports true, a chunk
// per transaction, and returns how many it deleted.
func prune[T any](s *Store, bucket []byte, old func(T) bool) (int, error) {
	total := 0
	var from []byte
	for {
		var next []byte
		removed := 0
		err := s.db.Update(func(tx Tx) error {
			var err error
			removed, next, err = deleteWhere(tx, bucket, from, pruneChunk, old)
			return err
		})
		if err != nil {
			return total, fmt.Errorf("prune %s: %w", bucket, err)
		}
		total += removed
		if next == nil {
			return total, nil
		}
		from = next
	}
}

// deleteWhere deletes, inside tx, the records of bucket from key from on
// for which old reports true. It reads at most limit records (0: no
// limit); next is the key to resume from, nil when the bucket was read to
// its end.
func deleteWhere[T any](tx Tx, bucket, from []byte, limit int, old func(T) bool) (removed int, next []byte, err error) {
	var doomed [][]byte
	seen := 0
	err = tx.ScanFrom(bucket, from, func(k, v []byte) error {
		if limit > 0 && seen == limit {
			next = append([]byte(nil), k...)
			return ErrStopScan
		}
		seen++
		var r T
		if err := unmarshal(bucket, v, &r); err != nil {
			return err
		}
		if old(r) {
			doomed = append(doomed, append([]byte(nil), k...))
		}
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	// Collected first: deleting while a cursor walks the bucket can skip
	// keys.
	for _, k := range doomed {
		if _, err := del(tx, bucket, k); err != nil {
			return 0, nil, err
		}
	}
	return len(doomed), next, nil
}
