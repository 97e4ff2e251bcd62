package state

import (
	"fmt"
	"time"
)

// bucketDigests holds the scheduled CI reports of channels (schema v5).
var bucketDigests = []byte("digests")

// Digest is a CI report posted to a channel on a cron schedule.
type Digest struct {
	ID      int64  `json:"id"`
	Channel string `json:"channel"`
	Project string `json:"project"` // path
	// Cron is the spec as typed; Spec the same for robfig/cron (Sunday as
	// 0, which robfig reads where GitLab also takes 7).
	Cron string `json:"cron"`
	Spec string `json:"spec"`
	// TZ is the zone as given (IANA or a Rails name); Location its IANA name.
	TZ       string `json:"tz"`
	Location string `json:"location"`
	Ref      string `json:"ref,omitempty"`
	Days     int    `json:"days"`
	Creator  string `json:"creator"`
	// CreatedAt is the earliest a slot can be: the first one is the first
	// cron time after it.
	CreatedAt time.Time `json:"created_at"`
	// LastSlot is the latest slot claimed; no slot before it is ever
	// started again.
	LastSlot time.Time `json:"last_slot,omitzero"`
	// DoneSlot is the latest slot finished: posted, or given up. A LastSlot
	// after it is a slot whose post was interrupted (a crash, a failed
	// post), which the runner finishes while it is not too late.
	DoneSlot time.Time `json:"done_slot,omitzero"`
}

// Pending reports whether d's last claimed slot was not finished.
func (d Digest) Pending() bool { return d.LastSlot.After(d.DoneSlot) }

func digestKey(id int64) ([]byte, error) {
	var b keyBuilder
	return b.int("digest id", id).key()
}

// AddDigest stores a new digest with the next id and the store clock's
// CreatedAt.
func (s *Store) AddDigest(d Digest) (Digest, error) {
	if d.Channel == "" || d.Project == "" || d.Spec == "" {
		return Digest{}, fmt.Errorf("add digest: %w: channel, project and cron are required", ErrInvalidKey)
	}
	err := s.db.Update(func(tx Tx) error {
		seq, err := tx.NextSequence(bucketDigests)
		if err != nil {
			return fmt.Errorf("next digest id: %w", err)
		}
		d.ID = int64(seq)
		d.CreatedAt = s.nowUTC()
		key, err := digestKey(d.ID)
		if err != nil {
			return err
		}
		return put(tx, bucketDigests, key, d)
	})
	if err != nil {
		return Digest{}, fmt.Errorf("add digest: %w", err)
	}
	return d, nil
}

// Digests returns every digest by id.
func (s *Store) Digests() ([]Digest, error) {
	var out []Digest
	err := s.db.View(func(tx Tx) error {
		out = nil
		return each(tx, bucketDigests, func(d Digest) error {
			out = append(out, d)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list digests: %w", err)
	}
	return out, nil
}

// ChannelDigests returns a channel's digests by id.
func (s *Store) ChannelDigests(channel string) ([]Digest, error) {
	all, err := s.Digests()
	if err != nil {
		return nil, err
	}
	var out []Digest
	for _, d := range all {
		if d.Channel == channel {
			out = append(out, d)
		}
	}
	return out, nil
}

// DeleteDigest removes digest id of channel; found is false when the channel
// has no digest of that id (another channel's is left alone).
func (s *Store) DeleteDigest(channel string, id int64) (d Digest, found bool, err error) {
	key, err := digestKey(id)
	if err != nil {
		return Digest{}, false, fmt.Errorf("delete digest %d: %w", id, err)
	}
	err = s.db.Update(func(tx Tx) error {
		found, err = get(tx, bucketDigests, key, &d)
		if err != nil || !found {
			return err
		}
		if d.Channel != channel {
			found = false
			return nil
		}
		_, err = del(tx, bucketDigests, key)
		return err
	})
	if err != nil {
		return Digest{}, false, fmt.Errorf("delete digest %d: %w", id, err)
	}
	return d, found, nil
}

// ClaimDigestSlot records slot as digest id's last slot if it is later than
// the one recorded, and reports whether it did: the caller that claims a
// slot posts it, so a slot is posted at most once, across restarts (and, on
// a shared database, across replicas). A deleted digest claims nothing.
func (s *Store) ClaimDigestSlot(id int64, slot time.Time) (d Digest, claimed bool, err error) {
	key, err := digestKey(id)
	if err != nil {
		return Digest{}, false, fmt.Errorf("claim digest slot: %w", err)
	}
	slot = slot.UTC()
	err = s.db.Update(func(tx Tx) error {
		claimed = false
		found, err := get(tx, bucketDigests, key, &d)
		if err != nil || !found || !slot.After(d.LastSlot) {
			return err
		}
		d.LastSlot = slot
		claimed = true
		return put(tx, bucketDigests, key, d)
	})
	if err != nil {
		return Digest{}, false, fmt.Errorf("claim slot %s of digest %d: %w", slot.Format(time.RFC3339), id, err)
	}
	return d, claimed, nil
}

// FinishDigestSlot records that digest id's slot was posted or given up;
// a later slot already finished is kept. A deleted digest is no error.
func (s *Store) FinishDigestSlot(id int64, slot time.Time) error {
	key, err := digestKey(id)
	if err != nil {
		return fmt.Errorf("finish digest slot: %w", err)
	}
	slot = slot.UTC()
	err = s.db.Update(func(tx Tx) error {
		var d Digest
		found, err := get(tx, bucketDigests, key, &d)
		if err != nil || !found || !slot.After(d.DoneSlot) {
			return err
		}
		d.DoneSlot = slot
		return put(tx, bucketDigests, key, d)
	})
	if err != nil {
		return fmt.Errorf("finish slot %s of digest %d: %w", slot.Format(time.RFC3339), id, err)
	}
	return nil
}
