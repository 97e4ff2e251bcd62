package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The tests of this file see the package's insides (buckets, migrations);
// what every engine must do is in storetest, which cannot be imported here
// (it imports state). None of them depends on the clock.

func openAt(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func openTemp(t *testing.T) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pipebot.db")
	s := openAt(t, path)
	t.Cleanup(func() { _ = s.Close() })
	return s, path
}

func sampleWatch(channel string, projectID, pipelineID int64) Watch {
	return Watch{
		ProjectID:  projectID,
		Project:    fmt.Sprintf("group/app%d", projectID),
		PipelineID: pipelineID,
		Channel:    channel,
		MessageTS:  "1700000000.000100",
		Requester:  "U123",
		LastStatus: "running",
		Broadcast:  true,
	}
}

func TestOpenCreatesSchemaV1WithEveryBucket(t *testing.T) {
	s, _ := openTemp(t)
	v, err := s.SchemaVersion()
	if err != nil || v != len(migrations) {
		t.Fatalf("SchemaVersion = %d, %v; want %d", v, err, len(migrations))
	}
	if err := s.Ping(); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	err = s.db.View(func(tx Tx) error {
		names, err := tx.Buckets()
		if err != nil {
			return err
		}
		for _, b := range [][]byte{bucketMeta, bucketWatches, bucketCursors, bucketRoles, bucketChannels, bucketAudit, bucketOnce} {
			if !slices.ContainsFunc(names, func(n []byte) bool { return string(n) == string(b) }) {
				return fmt.Errorf("bucket %s missing", b)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestKeyHelpersRefuseInvalidParts(t *testing.T) {
	tests := []struct {
		name string
		key  func() ([]byte, error)
	}{
		{"watch channel containing the separator", func() ([]byte, error) { return watchKey(WatchKey{"C1\x00x", 1, 2}) }},
		{"empty watch channel", func() ([]byte, error) { return watchKey(WatchKey{"", 1, 2}) }},
		{"negative project id", func() ([]byte, error) { return watchKey(WatchKey{"C1", -1, 2}) }},
		{"negative cursor project id", func() ([]byte, error) { return cursorKey(-5) }},
		{"role user containing the separator", func() ([]byte, error) { return roleKey("U1\x00") }},
		{"empty role user", func() ([]byte, error) { return roleKey("") }},
		{"channel id containing the separator", func() ([]byte, error) { return channelKey("\x00C1") }},
		{"once namespace containing the separator", func() ([]byte, error) { return onceKey("slack\x00retry", "k") }},
		{"once key containing the separator", func() ([]byte, error) { return onceKey("slack", "a\x00b") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := tt.key()
			if !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("key = %q, %v; want ErrInvalidKey", k, err)
			}
		})
	}
}

func TestKeyHelpersKeepDistinctRecordsApart(t *testing.T) {
	a, err := onceKey("ab", "c")
	if err != nil {
		t.Fatal(err)
	}
	b, err := onceKey("a", "bc")
	if err != nil {
		t.Fatal(err)
	}
	if string(a) == string(b) {
		t.Fatalf("onceKey(ab,c) == onceKey(a,bc) == %q", a)
	}
}

func TestSecondOpenOfLockedFileFails(t *testing.T) {
	_, path := openTemp(t)
	start := time.Now()
	s2, err := Open(path, Options{})
	elapsed := time.Since(start)
	if err == nil {
		_ = s2.Close()
		t.Fatal("second Open succeeded")
	}
	if !strings.Contains(err.Error(), "is another pipebot running?") {
		t.Fatalf("error %q does not ask about another pipebot", err)
	}
	if elapsed > 2*time.Second {
		t.Fatalf("second Open took %v, want about the 1s default timeout", elapsed)
	}
}

// setVersion writes a schema version straight into the file, as a newer or
// broken binary would have.
func setVersion(t *testing.T, path string, v int) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatalf("bolt.Open: %v", err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		data, _ := json.Marshal(metaRecord{SchemaVersion: v})
		return tx.Bucket(bucketMeta).Put(metaSchemaKey, data)
	})
	if err != nil {
		t.Fatalf("write version: %v", err)
	}
}

// fileState reads the recorded version and whether bucket exists, straight from the file.
func fileState(t *testing.T, path string, bucket []byte) (version int, hasBucket bool) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		t.Fatalf("bolt.Open: %v", err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		hasBucket = tx.Bucket(bucket) != nil
		version, err = readVersion(&boltTx{tx: tx})
		return err
	})
	if err != nil {
		t.Fatalf("read file: %v", err)
	}
	return version, hasBucket
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pipebot.db")
	if err := openAt(t, path).Close(); err != nil {
		t.Fatal(err)
	}
	setVersion(t, path, len(migrations)+1)
	s, err := Open(path, Options{})
	if err == nil {
		_ = s.Close()
		t.Fatal("Open of a newer schema succeeded")
	}
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("Open error = %v, want ErrSchemaTooNew", err)
	}
	newer, known := fmt.Sprintf("v%d", len(migrations)+1), fmt.Sprintf("v%d", len(migrations))
	if !strings.Contains(err.Error(), newer) || !strings.Contains(err.Error(), known) {
		t.Fatalf("error %q does not name both versions", err)
	}
	// The refusal released the file lock and changed nothing.
	if v, _ := fileState(t, path, bucketMeta); v != len(migrations)+1 {
		t.Fatalf("version after refused open = %d, want %d", v, len(migrations)+1)
	}
}

func withMigrations(t *testing.T, ms []migration) {
	t.Helper()
	saved := migrations
	migrations = ms
	t.Cleanup(func() { migrations = saved })
}

func TestMigrations(t *testing.T) {
	v1 := migrations[0]
	extra := []byte("extra_for_test")
	createExtra := func(tx Tx) error { return tx.CreateBucket(extra) }
	tests := []struct {
		name        string
		ms          []migration
		wantErr     string // "" means Open succeeds
		wantVersion int
		wantBucket  bool
	}{
		{
			name:        "appended migration runs and records its version",
			ms:          []migration{v1, {version: 2, name: "add subscriptions", up: createExtra}},
			wantVersion: 2,
			wantBucket:  true,
		},
		{
			name: "failing migration stops Open and leaves the version and data unchanged",
			ms: []migration{v1, {version: 2, name: "broken", up: func(tx Tx) error {
				if err := createExtra(tx); err != nil {
					return err
				}
				return errors.New("disk says no")
			}}},
			wantErr:     "migrate schema to v2 (broken): disk says no",
			wantVersion: 1,
		},
		{
			name:        "misnumbered migration is refused",
			ms:          []migration{v1, {version: 3, name: "skips", up: createExtra}},
			wantErr:     "numbered 3, want 2",
			wantVersion: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "pipebot.db")
			withMigrations(t, []migration{v1})
			if err := openAt(t, path).Close(); err != nil {
				t.Fatal(err)
			}
			withMigrations(t, tt.ms)
			s, err := Open(path, Options{})
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				if v, err := s.SchemaVersion(); v != tt.wantVersion || err != nil {
					t.Fatalf("SchemaVersion = %d, %v; want %d", v, err, tt.wantVersion)
				}
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
			} else {
				if err == nil {
					_ = s.Close()
					t.Fatal("Open succeeded")
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Open error = %q, want it to contain %q", err, tt.wantErr)
				}
			}
			v, hasBucket := fileState(t, path, extra)
			if v != tt.wantVersion || hasBucket != tt.wantBucket {
				t.Fatalf("file at v%d with bucket %v; want v%d with bucket %v", v, hasBucket, tt.wantVersion, tt.wantBucket)
			}
		})
	}
}
