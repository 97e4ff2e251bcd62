package state

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// AuditEntry records one mutating action: who did what, where, and how it ended.
type AuditEntry struct {
	Seq     uint64    `json:"seq"`
	Time    time.Time `json:"time"`
	User    string    `json:"user"`
	Channel string    `json:"channel"`
	Command string    `json:"command"`
	Project string    `json:"project"`
	Result  string    `json:"result"`
	Ref     string    `json:"ref"`
	// GitLab is who acted in GitLab: "linked @alice", "sudo @alice",
	// "bot"; empty when nothing ran there.
	GitLab string `json:"gitlab,omitempty"`
}

// AppendAudit appends e to the audit log and returns it as stored: Seq is the
// next sequence number and Time, if zero, comes from the store clock.
func (s *Store) AppendAudit(e AuditEntry) (AuditEntry, error) {
	if e.Time.IsZero() {
		e.Time = s.nowUTC()
	}
	e.Time = e.Time.UTC()
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := bucketOf(tx, bucketAudit)
		if err != nil {
			return err
		}
		seq, err := b.NextSequence()
		if err != nil {
			return fmt.Errorf("next audit sequence: %w", err)
		}
		e.Seq = seq
		return put(tx, bucketAudit, auditKey(seq), e)
	})
	if err != nil {
		return AuditEntry{}, fmt.Errorf("append audit entry: %w", err)
	}
	return e, nil
}

// Audit returns up to limit audit entries, newest first; limit <= 0 means all.
func (s *Store) Audit(limit int) ([]AuditEntry, error) {
	var es []AuditEntry
	err := s.db.View(func(tx *bolt.Tx) error {
		b, err := bucketOf(tx, bucketAudit)
		if err != nil {
			return err
		}
		c := b.Cursor()
		for k, v := c.Last(); k != nil && (limit <= 0 || len(es) < limit); k, v = c.Prev() {
			var e AuditEntry
			if err := unmarshal(bucketAudit, v, &e); err != nil {
				return err
			}
			es = append(es, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list audit entries: %w", err)
	}
	return es, nil
}
