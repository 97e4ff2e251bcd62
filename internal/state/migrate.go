package state

import (
	"context"
	"encoding/json"
	"fmt"
)

// migration moves the schema from version-1 to version. Its up runs in the
// same transaction that records the new version, so a failure leaves both the
// data and the version as they were. It is written against Tx, so one
// migration serves every engine.
type migration struct {
	version int
	name    string
	up      func(tx Tx) error
}

// migrations lists every schema change in order; migrations[i] has version
// i+1. Append new ones, never edit or reorder old ones. It is a variable so
// that tests can inject a failing migration.
var migrations = []migration{
	{version: 1, name: "create buckets", up: migrateV1},
	{version: 2, name: "subscriptions", up: migrateSubscriptions},
	{version: 3, name: "live unfurls", up: migrateUnfurls},
	{version: 4, name: "app home", up: migrateHomes},
	{version: 5, name: "insights cache and digests", up: migrateInsights},
	{version: 6, name: "account links", up: migrateLinks},
	{version: 7, name: "handoff queue", up: migrateQueue},
}

func migrateV1(tx Tx) error {
	return createBuckets(tx, bucketMeta, bucketWatches, bucketCursors, bucketRoles, bucketChannels, bucketAudit, bucketOnce)
}

// createBuckets declares buckets in a migration.
func createBuckets(tx Tx, names ...[]byte) error {
	for _, name := range names {
		if err := tx.CreateBucket(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	return nil
}

// metaRecord is the value at metaSchemaKey.
type metaRecord struct {
	SchemaVersion int `json:"schema_version"`
}

// readVersion returns the recorded schema version; 0 for a new database.
func readVersion(tx Tx) (int, error) {
	data, err := tx.Get(bucketMeta, metaSchemaKey)
	if err != nil {
		return 0, err
	}
	if data == nil {
		return 0, nil
	}
	var m metaRecord
	if err := json.Unmarshal(data, &m); err != nil {
		return 0, fmt.Errorf("decode schema version: %w", err)
	}
	return m.SchemaVersion, nil
}

func writeVersion(tx Tx, v int) error {
	if err := tx.CreateBucket(bucketMeta); err != nil {
		return fmt.Errorf("create meta bucket: %w", err)
	}
	data, err := json.Marshal(metaRecord{SchemaVersion: v})
	if err != nil {
		return fmt.Errorf("encode schema version: %w", err)
	}
	if err := tx.Put(bucketMeta, metaSchemaKey, data); err != nil {
		return fmt.Errorf("write schema version: %w", err)
	}
	return nil
}

// migrate brings the database up to len(ms), one transaction per
// migration. Each runs Exclusive and reads the version again inside, so
// that replicas starting together on one database migrate it once.
func (s *Store) migrate(ms []migration) error {
	for i, m := range ms {
		if m.version != i+1 {
			return fmt.Errorf("migration %q is numbered %d, want %d", m.name, m.version, i+1)
		}
	}
	current, err := s.SchemaVersion()
	if err != nil {
		return err
	}
	if current > len(ms) {
		return schemaTooNew(current, len(ms))
	}
	for _, m := range ms[current:] {
		ctx, cancel := s.db.ctx()
		err := s.db.engine.Exclusive(ctx, func(tx Tx) error {
			v, err := readVersion(tx)
			switch {
			case err != nil:
				return err
			case v >= m.version && v > len(ms):
				return schemaTooNew(v, len(ms))
			case v >= m.version:
				return nil // another process ran it meanwhile
			}
			if err := m.up(tx); err != nil {
				return err
			}
			return writeVersion(tx, m.version)
		})
		cancel()
		if err != nil {
			return fmt.Errorf("migrate schema to v%d (%s): %w", m.version, m.name, err)
		}
	}
	return nil
}

func schemaTooNew(current, known int) error {
	return fmt.Errorf("%w: database is at schema v%d, this pipebot knows up to v%d; upgrade pipebot or use another database",
		ErrSchemaTooNew, current, known)
}

// KnownSchemaVersion is the schema version this binary migrates databases to.
func KnownSchemaVersion() int { return len(migrations) }

// SchemaVersionOf reads the schema version recorded in e without migrating
// it (a database about to be copied, opened read-only).
func SchemaVersionOf(ctx context.Context, e Engine) (int, error) {
	var v int
	err := e.View(ctx, func(tx Tx) error {
		var err error
		v, err = readVersion(tx)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}
