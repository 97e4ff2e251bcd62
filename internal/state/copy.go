package state

import (
	"bytes"
	"context"
	"errors"
	"fmt"
)

// ErrTargetNotEmpty is returned by Copy when the target already holds data.
var ErrTargetNotEmpty = errors.New("state: the target database already holds data")

// BucketCount is how many records one bucket held, and its sequence.
type BucketCount struct {
	Bucket   string
	Records  int
	Sequence uint64
}

// Copy copies every bucket of src, whatever it holds (records from other
// versions of pipebot included), byte for byte into dst in one
// transaction: values stay as stored, encrypted ones still encrypted, and
// bucket sequences carry over. It refuses a dst that holds any record
// beyond a schema version (ErrTargetNotEmpty), and checks afterwards that
// every bucket of dst holds as many records as src's. Nothing should write
// to src meanwhile: pipebot migrate opens the bbolt file read-only, which a
// running pipebot's lock forbids.
func Copy(ctx context.Context, dst, src Engine) ([]BucketCount, error) {
	if err := checkEmpty(ctx, dst); err != nil {
		return nil, err
	}
	var counts []BucketCount
	err := src.View(ctx, func(stx Tx) error {
		names, err := stx.Buckets()
		if err != nil {
			return fmt.Errorf("list source buckets: %w", err)
		}
		return dst.Update(ctx, func(dtx Tx) error {
			counts = nil
			for _, name := range names {
				c := BucketCount{Bucket: string(name)}
				if err := dtx.CreateBucket(name); err != nil {
					return fmt.Errorf("create bucket %s: %w", name, err)
				}
				err := stx.Scan(name, nil, false, func(k, v []byte) error {
					c.Records++
					return dtx.Put(name, k, v)
				})
				if err != nil {
					return fmt.Errorf("copy bucket %s: %w", name, err)
				}
				if c.Sequence, err = stx.Sequence(name); err != nil {
					return fmt.Errorf("read the sequence of %s: %w", name, err)
				}
				if c.Sequence > 0 {
					if err := dtx.SetSequence(name, c.Sequence); err != nil {
						return fmt.Errorf("set the sequence of %s: %w", name, err)
					}
				}
				counts = append(counts, c)
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return counts, verifyCounts(ctx, dst, counts)
}

// checkEmpty fails unless dst holds nothing but, at most, a schema version.
func checkEmpty(ctx context.Context, dst Engine) error {
	return dst.View(ctx, func(tx Tx) error {
		names, err := tx.Buckets()
		if err != nil {
			return fmt.Errorf("list target buckets: %w", err)
		}
		for _, name := range names {
			n, err := tx.Count(name)
			if err != nil {
				return fmt.Errorf("count target bucket %s: %w", name, err)
			}
			seq, err := tx.Sequence(name)
			if err != nil {
				return fmt.Errorf("read the sequence of target bucket %s: %w", name, err)
			}
			if bytes.Equal(name, bucketMeta) && n <= 1 && seq == 0 {
				continue
			}
			if n > 0 || seq > 0 {
				return fmt.Errorf("%w: bucket %s has %d records", ErrTargetNotEmpty, name, n)
			}
		}
		return nil
	})
}

// verifyCounts reads the counts back from dst.
func verifyCounts(ctx context.Context, dst Engine, want []BucketCount) error {
	return dst.View(ctx, func(tx Tx) error {
		for _, c := range want {
			n, err := tx.Count([]byte(c.Bucket))
			if err != nil {
				return fmt.Errorf("count bucket %s: %w", c.Bucket, err)
			}
			seq, err := tx.Sequence([]byte(c.Bucket))
			if err != nil {
				return fmt.Errorf("read the sequence of %s: %w", c.Bucket, err)
			}
			if n != c.Records || seq != c.Sequence {
				return fmt.Errorf("bucket %s: the target holds %d records (sequence %d), the source %d (sequence %d)",
					c.Bucket, n, seq, c.Records, c.Sequence)
			}
		}
		return nil
	})
}
