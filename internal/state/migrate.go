package state

import (
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// migration moves the schema from version-1 to version. Its up runs in the
// same transaction that records the new version, so a failure leaves both the
// data and the version as they were.
type migration struct {
	version int
	name    string
	up      func(tx *bolt.Tx) error
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
}

func migrateV1(tx *bolt.Tx) error {
	for _, name := range [][]byte{bucketMeta, bucketWatches, bucketCursors, bucketRoles, bucketChannels, bucketAudit, bucketOnce} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
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
func readVersion(tx *bolt.Tx) (int, error) {
	b := tx.Bucket(bucketMeta)
	if b == nil {
		return 0, nil
	}
	data := b.Get(metaSchemaKey)
	if data == nil {
		return 0, nil
	}
	var m metaRecord
	if err := json.Unmarshal(data, &m); err != nil {
		return 0, fmt.Errorf("decode schema version: %w", err)
	}
	return m.SchemaVersion, nil
}

func writeVersion(tx *bolt.Tx, v int) error {
	b, err := tx.CreateBucketIfNotExists(bucketMeta)
	if err != nil {
		return fmt.Errorf("create meta bucket: %w", err)
	}
	data, err := json.Marshal(metaRecord{SchemaVersion: v})
	if err != nil {
		return fmt.Errorf("encode schema version: %w", err)
	}
	if err := b.Put(metaSchemaKey, data); err != nil {
		return fmt.Errorf("write schema version: %w", err)
	}
	return nil
}

// migrate brings db up to len(ms), one transaction per migration.
func migrate(db *bolt.DB, ms []migration) error {
	for i, m := range ms {
		if m.version != i+1 {
			return fmt.Errorf("migration %q is numbered %d, want %d", m.name, m.version, i+1)
		}
	}
	var current int
	if err := db.View(func(tx *bolt.Tx) error {
		var err error
		current, err = readVersion(tx)
		return err
	}); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if current > len(ms) {
		return fmt.Errorf("%w: database is at schema v%d, this pipebot knows up to v%d; upgrade pipebot or use another PIPEBOT_DB_PATH",
			ErrSchemaTooNew, current, len(ms))
	}
	for _, m := range ms[current:] {
		err := db.Update(func(tx *bolt.Tx) error {
			if err := m.up(tx); err != nil {
				return err
			}
			return writeVersion(tx, m.version)
		})
		if err != nil {
			return fmt.Errorf("migrate schema to v%d (%s): %w", m.version, m.name, err)
		}
	}
	return nil
}
