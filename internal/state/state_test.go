package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// fakeClock is an injectable clock that tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock {
	return &fakeClock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func openAt(t *testing.T, path string, clock *fakeClock) *Store {
	t.Helper()
	s, err := Open(path, Options{Now: clock.Now})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func openTemp(t *testing.T) (*Store, *fakeClock, string) {
	t.Helper()
	clock := newClock()
	path := filepath.Join(t.TempDir(), "pipebot.db")
	s := openAt(t, path, clock)
	t.Cleanup(func() { _ = s.Close() })
	return s, clock, path
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
	s, _, _ := openTemp(t)
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

func TestPingFailsAfterClose(t *testing.T) {
	s, _, _ := openTemp(t)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Ping(); err == nil {
		t.Fatal("Ping after Close succeeded")
	}
}

func TestWatchRoundTrip(t *testing.T) {
	s, clock, _ := openTemp(t)
	w := sampleWatch("C1", 7, 42)
	if err := s.PutWatch(w); err != nil {
		t.Fatalf("PutWatch: %v", err)
	}
	got, found, err := s.Watch(w.Key())
	if err != nil || !found {
		t.Fatalf("Watch = found %v, %v", found, err)
	}
	want := w
	want.CreatedAt, want.UpdatedAt = clock.Now(), clock.Now()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Watch =\n%+v\nwant\n%+v", got, want)
	}

	// Replacing keeps CreatedAt and moves UpdatedAt.
	clock.Advance(time.Minute)
	w.LastStatus = "success"
	if err := s.PutWatch(w); err != nil {
		t.Fatalf("PutWatch replace: %v", err)
	}
	got, _, _ = s.Watch(w.Key())
	if got.LastStatus != "success" || !got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(clock.Now()) {
		t.Fatalf("after replace: %+v", got)
	}

	if err := s.DeleteWatch(w.Key()); err != nil {
		t.Fatalf("DeleteWatch: %v", err)
	}
	if _, found, err := s.Watch(w.Key()); found || err != nil {
		t.Fatalf("Watch after delete = found %v, %v", found, err)
	}
	if err := s.DeleteWatch(w.Key()); err != nil {
		t.Fatalf("DeleteWatch of a missing watch: %v", err)
	}
}

func TestWatchesOrderedByKeyAndGroupedByProject(t *testing.T) {
	s, _, _ := openTemp(t)
	// Inserted out of order; 256 sorts after 2 only with big-endian integers.
	keys := []WatchKey{
		{"C2", 1, 1},
		{"C1", 9, 256},
		{"C1", 9, 2},
		{"C1", 3, 5},
	}
	for _, k := range keys {
		if err := s.PutWatch(sampleWatch(k.Channel, k.ProjectID, k.PipelineID)); err != nil {
			t.Fatalf("PutWatch %s: %v", k, err)
		}
	}
	ws, err := s.Watches()
	if err != nil {
		t.Fatalf("Watches: %v", err)
	}
	var got []WatchKey
	for _, w := range ws {
		got = append(got, w.Key())
	}
	want := []WatchKey{{"C1", 3, 5}, {"C1", 9, 2}, {"C1", 9, 256}, {"C2", 1, 1}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Watches order = %v, want %v", got, want)
	}

	byProject, err := s.WatchesByProject()
	if err != nil {
		t.Fatalf("WatchesByProject: %v", err)
	}
	counts := map[int64][]int64{}
	for p, ws := range byProject {
		for _, w := range ws {
			if w.ProjectID != p {
				t.Fatalf("watch %s grouped under project %d", w.Key(), p)
			}
			counts[p] = append(counts[p], w.PipelineID)
		}
	}
	wantCounts := map[int64][]int64{1: {1}, 3: {5}, 9: {2, 256}}
	if !reflect.DeepEqual(counts, wantCounts) {
		t.Fatalf("WatchesByProject = %v, want %v", counts, wantCounts)
	}
}

func TestUpdateWatch(t *testing.T) {
	errBoom := errors.New("boom")
	tests := []struct {
		name       string
		key        WatchKey
		fn         func(*Watch) error
		wantErr    error // nil: success
		wantStatus string
	}{
		{
			name:       "applies the change",
			key:        WatchKey{"C1", 7, 42},
			fn:         func(w *Watch) error { w.LastStatus = "failed"; w.FinalState = FinalPending; return nil },
			wantStatus: "failed",
		},
		{
			name:       "fn error aborts and leaves the record unchanged",
			key:        WatchKey{"C1", 7, 42},
			fn:         func(w *Watch) error { w.LastStatus = "failed"; return errBoom },
			wantErr:    errBoom,
			wantStatus: "running",
		},
		{
			name:       "changing the key is refused",
			key:        WatchKey{"C1", 7, 42},
			fn:         func(w *Watch) error { w.PipelineID = 43; w.LastStatus = "failed"; return nil },
			wantErr:    errKeyChanged,
			wantStatus: "running",
		},
		{
			name:    "missing watch is ErrNotFound",
			key:     WatchKey{"C1", 7, 999},
			fn:      func(w *Watch) error { return nil },
			wantErr: ErrNotFound,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, clock, _ := openTemp(t)
			if err := s.PutWatch(sampleWatch("C1", 7, 42)); err != nil {
				t.Fatalf("PutWatch: %v", err)
			}
			created := clock.Now()
			clock.Advance(time.Second)
			got, err := s.UpdateWatch(tt.key, tt.fn)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("UpdateWatch error = %v, want %v", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatalf("UpdateWatch: %v", err)
			} else if got.LastStatus != tt.wantStatus || !got.UpdatedAt.Equal(clock.Now()) || !got.CreatedAt.Equal(created) {
				t.Fatalf("UpdateWatch returned %+v", got)
			}
			if tt.wantStatus == "" {
				return
			}
			stored, _, err := s.Watch(WatchKey{"C1", 7, 42})
			if err != nil {
				t.Fatalf("Watch: %v", err)
			}
			if stored.LastStatus != tt.wantStatus {
				t.Fatalf("stored LastStatus = %q, want %q", stored.LastStatus, tt.wantStatus)
			}
			if tt.wantErr != nil && !stored.UpdatedAt.Equal(created) {
				t.Fatalf("failed update moved UpdatedAt to %v", stored.UpdatedAt)
			}
			if _, found, _ := s.Watch(WatchKey{"C1", 7, 43}); found {
				t.Fatal("a watch appeared under the changed key")
			}
		})
	}
}

func TestConcurrentUpdateWatchKeepsEveryIncrement(t *testing.T) {
	s, _, _ := openTemp(t)
	k := WatchKey{"C1", 1, 1}
	w := sampleWatch(k.Channel, k.ProjectID, k.PipelineID)
	w.LastStatus = "0"
	if err := s.PutWatch(w); err != nil {
		t.Fatalf("PutWatch: %v", err)
	}
	const workers, perWorker = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers*perWorker)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range perWorker {
				_, err := s.UpdateWatch(k, func(w *Watch) error {
					n, err := strconv.Atoi(w.LastStatus)
					if err != nil {
						return err
					}
					w.LastStatus = strconv.Itoa(n + 1)
					return nil
				})
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("UpdateWatch: %v", err)
	}
	got, _, err := s.Watch(k)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	if want := strconv.Itoa(workers * perWorker); got.LastStatus != want {
		t.Fatalf("counter = %s, want %s", got.LastStatus, want)
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

func TestStoreRefusesInvalidKeysWithoutWriting(t *testing.T) {
	s, _, _ := openTemp(t)
	if err := s.PutWatch(sampleWatch("C1\x00", 1, 1)); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("PutWatch = %v, want ErrInvalidKey", err)
	}
	if _, err := s.MarkOnce("ns", "k\x00", time.Minute); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("MarkOnce = %v, want ErrInvalidKey", err)
	}
	if err := s.SetRole("", "admin"); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("SetRole = %v, want ErrInvalidKey", err)
	}
	ws, err := s.Watches()
	if err != nil || len(ws) != 0 {
		t.Fatalf("Watches = %v, %v; want none", ws, err)
	}
}

func TestCursorRoundTrip(t *testing.T) {
	s, _, _ := openTemp(t)
	if _, found, err := s.Cursor(7); found || err != nil {
		t.Fatalf("Cursor of unset project = found %v, %v", found, err)
	}
	zone := time.FixedZone("CET", 3600)
	at := time.Date(2025, 3, 1, 13, 4, 5, 123456789, zone)
	if err := s.SetCursor(7, at); err != nil {
		t.Fatalf("SetCursor: %v", err)
	}
	got, found, err := s.Cursor(7)
	if err != nil || !found || !got.Equal(at) {
		t.Fatalf("Cursor = %v, %v, %v; want %v", got, found, err, at)
	}
	if _, found, _ := s.Cursor(8); found {
		t.Fatal("cursor of another project found")
	}
}

func TestRoles(t *testing.T) {
	s, _, _ := openTemp(t)
	if err := s.SetRole("U1", "admin"); err != nil {
		t.Fatalf("SetRole: %v", err)
	}
	if err := s.SetRole("U2", "viewer"); err != nil {
		t.Fatalf("SetRole: %v", err)
	}
	if err := s.SetRole("U2", "operator"); err != nil {
		t.Fatalf("SetRole replace: %v", err)
	}
	if err := s.SetRole("U3", ""); err == nil {
		t.Fatal("SetRole with an empty role succeeded")
	}
	if role, found, err := s.Role("U2"); role != "operator" || !found || err != nil {
		t.Fatalf("Role(U2) = %q, %v, %v", role, found, err)
	}
	if _, found, _ := s.Role("U3"); found {
		t.Fatal("Role(U3) found after a refused SetRole")
	}
	roles, err := s.Roles()
	if err != nil || !reflect.DeepEqual(roles, map[string]string{"U1": "admin", "U2": "operator"}) {
		t.Fatalf("Roles = %v, %v", roles, err)
	}
	if existed, err := s.DeleteRole("U1"); !existed || err != nil {
		t.Fatalf("DeleteRole(U1) = %v, %v; want true", existed, err)
	}
	if existed, err := s.DeleteRole("U1"); existed || err != nil {
		t.Fatalf("second DeleteRole(U1) = %v, %v; want false", existed, err)
	}
	if _, found, _ := s.Role("U1"); found {
		t.Fatal("Role(U1) found after delete")
	}
}

func TestUpdateChannel(t *testing.T) {
	s, _, _ := openTemp(t)
	if _, found, err := s.Channel("C1"); found || err != nil {
		t.Fatalf("Channel before update = found %v, %v", found, err)
	}
	errBoom := errors.New("boom")
	if _, err := s.UpdateChannel("C1", func(c *Channel) error { c.DefaultProject = "g/x"; return errBoom }); !errors.Is(err, errBoom) {
		t.Fatalf("UpdateChannel fn error = %v, want boom", err)
	}
	if _, found, _ := s.Channel("C1"); found {
		t.Fatal("aborted UpdateChannel created the channel")
	}
	got, err := s.UpdateChannel("C1", func(c *Channel) error {
		if c.ID != "C1" {
			return fmt.Errorf("fresh channel has ID %q", c.ID)
		}
		c.DefaultProject = "group/app"
		return nil
	})
	if err != nil {
		t.Fatalf("UpdateChannel create: %v", err)
	}
	if _, err := s.UpdateChannel("C1", func(c *Channel) error {
		c.AllowedProjects = append(c.AllowedProjects, "group/app", "group/lib")
		c.InviteHinted = true
		return nil
	}); err != nil {
		t.Fatalf("UpdateChannel modify: %v", err)
	}
	if _, err := s.UpdateChannel("C1", func(c *Channel) error { c.ID = "C2"; return nil }); !errors.Is(err, errKeyChanged) {
		t.Fatalf("UpdateChannel changing ID = %v, want errKeyChanged", err)
	}
	got, found, err := s.Channel("C1")
	want := Channel{ID: "C1", DefaultProject: "group/app", AllowedProjects: []string{"group/app", "group/lib"}, InviteHinted: true}
	if err != nil || !found || !reflect.DeepEqual(got, want) {
		t.Fatalf("Channel = %+v, %v, %v; want %+v", got, found, err, want)
	}
}

func TestAuditNewestFirst(t *testing.T) {
	s, clock, _ := openTemp(t)
	explicit := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := 1; i <= 5; i++ {
		e := AuditEntry{User: "U1", Channel: "C1", Command: fmt.Sprintf("pipeline retry %d", i), Project: "g/app", Result: "ok"}
		if i == 3 {
			e.Time = explicit
		}
		got, err := s.AppendAudit(e)
		if err != nil {
			t.Fatalf("AppendAudit: %v", err)
		}
		wantTime := clock.Now()
		if i == 3 {
			wantTime = explicit
		}
		if got.Seq != uint64(i) || !got.Time.Equal(wantTime) {
			t.Fatalf("AppendAudit #%d = seq %d time %v; want seq %d time %v", i, got.Seq, got.Time, i, wantTime)
		}
		clock.Advance(time.Minute)
	}
	tests := []struct {
		name    string
		limit   int
		wantSeq []uint64
	}{
		{"limit takes the newest", 3, []uint64{5, 4, 3}},
		{"limit above the count returns all", 10, []uint64{5, 4, 3, 2, 1}},
		{"zero limit returns all", 0, []uint64{5, 4, 3, 2, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			es, err := s.Audit(tt.limit)
			if err != nil {
				t.Fatalf("Audit: %v", err)
			}
			var seqs []uint64
			for _, e := range es {
				seqs = append(seqs, e.Seq)
				if want := fmt.Sprintf("pipeline retry %d", e.Seq); e.Command != want {
					t.Fatalf("entry %d command = %q, want %q", e.Seq, e.Command, want)
				}
			}
			if !reflect.DeepEqual(seqs, tt.wantSeq) {
				t.Fatalf("Audit(%d) seqs = %v, want %v", tt.limit, seqs, tt.wantSeq)
			}
		})
	}
}

func TestMarkOnce(t *testing.T) {
	s, clock, _ := openTemp(t)
	const ttl = time.Minute
	steps := []struct {
		name      string
		advance   time.Duration
		namespace string
		key       string
		wantFirst bool
	}{
		{"first mark is first", 0, "slack", "retry-1", true},
		{"second mark within ttl is not", 59 * time.Second, "slack", "retry-1", false},
		{"same key in another namespace is first", 0, "webhook", "retry-1", true},
		{"mark at expiry is first again", time.Second, "slack", "retry-1", true},
		{"mark right after re-marking is not", time.Second, "slack", "retry-1", false},
	}
	for _, st := range steps {
		clock.Advance(st.advance)
		first, err := s.MarkOnce(st.namespace, st.key, ttl)
		if err != nil {
			t.Fatalf("%s: MarkOnce: %v", st.name, err)
		}
		if first != st.wantFirst {
			t.Fatalf("%s: first = %v, want %v", st.name, first, st.wantFirst)
		}
	}
	if _, err := s.MarkOnce("slack", "x", 0); err == nil {
		t.Fatal("MarkOnce with zero ttl succeeded")
	}
}

func TestPruneOnceDropsOnlyExpiredMarkers(t *testing.T) {
	s, clock, _ := openTemp(t)
	for _, m := range []struct {
		key string
		ttl time.Duration
	}{{"short-1", time.Minute}, {"short-2", time.Minute}, {"long", time.Hour}} {
		if _, err := s.MarkOnce("ns", m.key, m.ttl); err != nil {
			t.Fatalf("MarkOnce: %v", err)
		}
	}
	if removed, err := s.PruneOnce(); removed != 0 || err != nil {
		t.Fatalf("PruneOnce before expiry = %d, %v", removed, err)
	}
	clock.Advance(2 * time.Minute)
	if removed, err := s.PruneOnce(); removed != 2 || err != nil {
		t.Fatalf("PruneOnce = %d, %v; want 2", removed, err)
	}
	// The long marker survived pruning and still deduplicates.
	if first, err := s.MarkOnce("ns", "long", time.Hour); first || err != nil {
		t.Fatalf("MarkOnce(long) after prune = %v, %v; want false", first, err)
	}
	if first, err := s.MarkOnce("ns", "short-1", time.Minute); !first || err != nil {
		t.Fatalf("MarkOnce(short-1) after prune = %v, %v; want true", first, err)
	}
}

func TestReopenKeepsEverything(t *testing.T) {
	clock := newClock()
	path := filepath.Join(t.TempDir(), "pipebot.db")
	s := openAt(t, path, clock)
	w := sampleWatch("C1", 7, 42)
	w.CardPending = true
	steps := []error{
		s.PutWatch(w),
		s.SetCursor(7, clock.Now()),
		s.SetRole("U1", "admin"),
	}
	_, err := s.UpdateChannel("C1", func(c *Channel) error { c.DefaultProject = "group/app"; return nil })
	steps = append(steps, err)
	_, err = s.AppendAudit(AuditEntry{User: "U1", Command: "role grant"})
	steps = append(steps, err)
	_, err = s.MarkOnce("slack", "k1", time.Hour)
	steps = append(steps, err)
	for i, err := range steps {
		if err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = openAt(t, path, clock)
	defer s.Close()
	if v, err := s.SchemaVersion(); v != len(migrations) || err != nil {
		t.Fatalf("SchemaVersion after reopen = %d, %v", v, err)
	}
	got, found, err := s.Watch(w.Key())
	if err != nil || !found || !got.CardPending || got.MessageTS != w.MessageTS {
		t.Fatalf("Watch after reopen = %+v, %v, %v", got, found, err)
	}
	if c, found, _ := s.Cursor(7); !found || !c.Equal(clock.Now()) {
		t.Fatalf("Cursor after reopen = %v, %v", c, found)
	}
	if r, _, _ := s.Role("U1"); r != "admin" {
		t.Fatalf("Role after reopen = %q", r)
	}
	if c, _, _ := s.Channel("C1"); c.DefaultProject != "group/app" {
		t.Fatalf("Channel after reopen = %+v", c)
	}
	if first, err := s.MarkOnce("slack", "k1", time.Hour); first || err != nil {
		t.Fatalf("MarkOnce after reopen = %v, %v; want false", first, err)
	}
	e, err := s.AppendAudit(AuditEntry{User: "U1", Command: "audit"})
	if err != nil || e.Seq != 2 {
		t.Fatalf("AppendAudit after reopen = seq %d, %v; want 2", e.Seq, err)
	}
}

func TestSecondOpenOfLockedFileFails(t *testing.T) {
	_, _, path := openTemp(t)
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
	clock := newClock()
	path := filepath.Join(t.TempDir(), "pipebot.db")
	if err := openAt(t, path, clock).Close(); err != nil {
		t.Fatal(err)
	}
	setVersion(t, path, len(migrations)+1)
	s, err := Open(path, Options{Now: clock.Now})
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
			clock := newClock()
			path := filepath.Join(t.TempDir(), "pipebot.db")
			withMigrations(t, []migration{v1})
			if err := openAt(t, path, clock).Close(); err != nil {
				t.Fatal(err)
			}
			withMigrations(t, tt.ms)
			s, err := Open(path, Options{Now: clock.Now})
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
