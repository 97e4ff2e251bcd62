package state

import (
	"fmt"
	"time"
)

// bucketUnfurls holds live unfurls (schema v3).
var bucketUnfurls = []byte("unfurls")

// MaxUnfurls bounds the live unfurls kept: recording one more evicts the
// oldest, whose preview then simply stops following its pipeline.
const MaxUnfurls = 1000

func migrateUnfurls(tx Tx) error { return createBuckets(tx, bucketUnfurls) }

// Unfurl is a pasted pipeline or job link whose preview pipebot keeps up to
// date (another chat.unfurl on the same message) until the pipeline or job
// ends. Channel and TS are the posted message; URL is the link exactly as
// Slack reported it (the key of the chat.unfurl map).
type Unfurl struct {
	Channel    string `json:"channel"`
	TS         string `json:"ts"`
	URL        string `json:"url"`
	ProjectID  int64  `json:"project_id"`
	Project    string `json:"project"` // path, for the preview
	PipelineID int64  `json:"pipeline_id"`
	JobID      int64  `json:"job_id,omitempty"` // set for a job link
	// LastStatus is the status the preview shows: the pipeline's for a
	// pipeline link, the job's for a job link.
	LastStatus string `json:"last_status"`
	// PipelineUpdatedAt is the pipeline's updated_at when a job link's
	// job was last read: a poll listing the pipeline again unchanged (the
	// poll overlap) costs no jobs read.
	PipelineUpdatedAt time.Time `json:"pipeline_updated_at,omitempty"`
	// Stale is set when an update could not be delivered (Slack or GitLab
	// failed for a while): the next poll reads the pipeline even if the
	// project's list does not show it changed.
	Stale     bool      `json:"stale,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// UnfurlKey identifies a live unfurl: one link of one message.
type UnfurlKey struct{ Channel, TS, URL string }

// Key returns the unfurl's identity.
func (u Unfurl) Key() UnfurlKey { return UnfurlKey{Channel: u.Channel, TS: u.TS, URL: u.URL} }

func unfurlKey(k UnfurlKey) ([]byte, error) {
	var b keyBuilder
	return b.str("channel", k.Channel).str("ts", k.TS).str("url", k.URL).key()
}

// PutUnfurl creates or replaces a live unfurl. CreatedAt is kept from an
// existing record (or set from the clock); UpdatedAt is set from the clock.
// A new record beyond MaxUnfurls evicts the oldest ones.
func (s *Store) PutUnfurl(u Unfurl) error {
	key, err := unfurlKey(u.Key())
	if err != nil {
		return fmt.Errorf("put unfurl: %w", err)
	}
	if u.ProjectID <= 0 || u.PipelineID <= 0 {
		return fmt.Errorf("put unfurl: %w: project and pipeline ids are required", ErrInvalidKey)
	}
	err = s.db.Update(func(tx Tx) error {
		var old Unfurl
		found, err := get(tx, bucketUnfurls, key, &old)
		if err != nil {
			return err
		}
		now := s.nowUTC()
		switch {
		case found:
			u.CreatedAt = old.CreatedAt
		case u.CreatedAt.IsZero():
			u.CreatedAt = now
		default:
			u.CreatedAt = u.CreatedAt.UTC()
		}
		u.UpdatedAt = now
		if !found {
			n, err := tx.Count(bucketUnfurls)
			if err != nil {
				return fmt.Errorf("count unfurls: %w", err)
			}
			if n >= MaxUnfurls {
				if err := evictOldestUnfurls(tx, n-MaxUnfurls+1); err != nil {
					return err
				}
			}
		}
		return put(tx, bucketUnfurls, key, u)
	})
	if err != nil {
		return fmt.Errorf("put unfurl %s %s: %w", u.Channel, u.TS, err)
	}
	return nil
}

// evictOldestUnfurls deletes the n records created first.
func evictOldestUnfurls(tx Tx, n int) error {
	type aged struct {
		key []byte
		at  time.Time
	}
	var all []aged
	err := scan(tx, bucketUnfurls, nil, false, func(k []byte, u Unfurl) error {
		all = append(all, aged{append([]byte(nil), k...), u.CreatedAt})
		return nil
	})
	if err != nil {
		return err
	}
	for ; n > 0 && len(all) > 0; n-- {
		oldest := 0
		for i := range all {
			if all[i].at.Before(all[oldest].at) {
				oldest = i
			}
		}
		if _, err := del(tx, bucketUnfurls, all[oldest].key); err != nil {
			return fmt.Errorf("evict unfurl: %w", err)
		}
		all = append(all[:oldest], all[oldest+1:]...)
	}
	return nil
}

// Unfurls returns every live unfurl ordered by key: channel, ts, URL.
func (s *Store) Unfurls() ([]Unfurl, error) {
	var us []Unfurl
	err := s.db.View(func(tx Tx) error {
		us = nil
		return each(tx, bucketUnfurls, func(u Unfurl) error {
			us = append(us, u)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list unfurls: %w", err)
	}
	return us, nil
}

// DeleteUnfurl removes a live unfurl; deleting a missing one is not an error.
func (s *Store) DeleteUnfurl(k UnfurlKey) error {
	key, err := unfurlKey(k)
	if err != nil {
		return fmt.Errorf("delete unfurl: %w", err)
	}
	if err := s.db.Update(func(tx Tx) error {
		_, err := del(tx, bucketUnfurls, key)
		return err
	}); err != nil {
		return fmt.Errorf("delete unfurl %s %s: %w", k.Channel, k.TS, err)
	}
	return nil
}
