package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pipebot/pipebot/internal/state"
)

func testPingFailsAfterClose(t *testing.T, db *DB) {
	s, _ := db.Open(t)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Ping(); err == nil {
		t.Fatal("Ping after Close succeeded")
	}
}

func testWatchRoundTrip(t *testing.T, db *DB) {
	s, clock := db.Open(t)
	w := sampleWatch("C1", 7, 42)
	if err := s.PutWatch(w); err != nil {
		t.Fatalf("PutWatch: %v", err)
	}
	got, found, err := s.Watch(w.Key())
	if err != nil || !found {
		t.Fatalf("state.Watch = found %v, %v", found, err)
	}
	want := w
	want.CreatedAt, want.UpdatedAt = clock.Now(), clock.Now()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("state.Watch =\n%+v\nwant\n%+v", got, want)
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
		t.Fatalf("state.Watch after delete = found %v, %v", found, err)
	}
	if err := s.DeleteWatch(w.Key()); err != nil {
		t.Fatalf("DeleteWatch of a missing watch: %v", err)
	}
}

func testWatchesOrderedByKeyAndGroupedByProject(t *testing.T, db *DB) {
	s, _ := db.Open(t)
	// Inserted out of order; 256 sorts after 2 only with big-endian integers.
	keys := []state.WatchKey{
		wk("C2", 1, 1),
		wk("C1", 9, 256),
		wk("C1", 9, 2),
		wk("C1", 3, 5),
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
	var got []state.WatchKey
	for _, w := range ws {
		got = append(got, w.Key())
	}
	want := []state.WatchKey{wk("C1", 3, 5), wk("C1", 9, 2), wk("C1", 9, 256), wk("C2", 1, 1)}
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

func testUpdateWatch(t *testing.T, db *DB) {
	errBoom := errors.New("boom")
	tests := []struct {
		name       string
		key        state.WatchKey
		fn         func(*state.Watch) error
		wantErr    error // nil: success
		wantStatus string
	}{
		{
			name:       "applies the change",
			key:        wk("C1", 7, 42),
			fn:         func(w *state.Watch) error { w.LastStatus = "failed"; w.FinalState = state.FinalPending; return nil },
			wantStatus: "failed",
		},
		{
			name:       "fn error aborts and leaves the record unchanged",
			key:        wk("C1", 7, 42),
			fn:         func(w *state.Watch) error { w.LastStatus = "failed"; return errBoom },
			wantErr:    errBoom,
			wantStatus: "running",
		},
		{
			name:       "changing the key is refused",
			key:        wk("C1", 7, 42),
			fn:         func(w *state.Watch) error { w.PipelineID = 43; w.LastStatus = "failed"; return nil },
			wantErr:    errAny,
			wantStatus: "running",
		},
		{
			name:    "missing watch is ErrNotFound",
			key:     wk("C1", 7, 999),
			fn:      func(w *state.Watch) error { return nil },
			wantErr: state.ErrNotFound,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, clock := db.Open(t)
			if err := s.PutWatch(sampleWatch("C1", 7, 42)); err != nil {
				t.Fatalf("PutWatch: %v", err)
			}
			created := clock.Now()
			clock.Advance(time.Second)
			got, err := s.UpdateWatch(tt.key, tt.fn)
			if tt.wantErr != nil {
				if err == nil || (tt.wantErr != errAny && !errors.Is(err, tt.wantErr)) {
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
			stored, _, err := s.Watch(wk("C1", 7, 42))
			if err != nil {
				t.Fatalf("Watch: %v", err)
			}
			if stored.LastStatus != tt.wantStatus {
				t.Fatalf("stored LastStatus = %q, want %q", stored.LastStatus, tt.wantStatus)
			}
			if tt.wantErr != nil && !stored.UpdatedAt.Equal(created) {
				t.Fatalf("failed update moved UpdatedAt to %v", stored.UpdatedAt)
			}
			if _, found, _ := s.Watch(wk("C1", 7, 43)); found {
				t.Fatal("a watch appeared under the changed key")
			}
		})
	}
}

func testConcurrentUpdateWatchKeepsEveryIncrement(t *testing.T, db *DB) {
	s, _ := db.Open(t)
	k := wk("C1", 1, 1)
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
				_, err := s.UpdateWatch(k, func(w *state.Watch) error {
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

func testStoreRefusesInvalidKeysWithoutWriting(t *testing.T, db *DB) {
	s, _ := db.Open(t)
	if err := s.PutWatch(sampleWatch("C1\x00", 1, 1)); !errors.Is(err, state.ErrInvalidKey) {
		t.Fatalf("PutWatch = %v, want state.ErrInvalidKey", err)
	}
	if _, err := s.MarkOnce("ns", "k\x00", time.Minute); !errors.Is(err, state.ErrInvalidKey) {
		t.Fatalf("MarkOnce = %v, want state.ErrInvalidKey", err)
	}
	if err := s.SetRole("", "admin"); !errors.Is(err, state.ErrInvalidKey) {
		t.Fatalf("SetRole = %v, want state.ErrInvalidKey", err)
	}
	ws, err := s.Watches()
	if err != nil || len(ws) != 0 {
		t.Fatalf("Watches = %v, %v; want none", ws, err)
	}
}

func testCursorRoundTrip(t *testing.T, db *DB) {
	s, _ := db.Open(t)
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

func testRoles(t *testing.T, db *DB) {
	s, _ := db.Open(t)
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

func testUpdateChannel(t *testing.T, db *DB) {
	s, _ := db.Open(t)
	if _, found, err := s.Channel("C1"); found || err != nil {
		t.Fatalf("state.Channel before update = found %v, %v", found, err)
	}
	errBoom := errors.New("boom")
	if _, err := s.UpdateChannel("C1", func(c *state.Channel) error { c.DefaultProject = "g/x"; return errBoom }); !errors.Is(err, errBoom) {
		t.Fatalf("UpdateChannel fn error = %v, want boom", err)
	}
	if _, found, _ := s.Channel("C1"); found {
		t.Fatal("aborted UpdateChannel created the channel")
	}
	got, err := s.UpdateChannel("C1", func(c *state.Channel) error {
		if c.ID != "C1" {
			return fmt.Errorf("fresh channel has ID %q", c.ID)
		}
		c.DefaultProject = "group/app"
		return nil
	})
	if err != nil {
		t.Fatalf("UpdateChannel create: %v", err)
	}
	if _, err := s.UpdateChannel("C1", func(c *state.Channel) error {
		c.AllowedProjects = append(c.AllowedProjects, "group/app", "group/lib")
		c.InviteHinted = true
		return nil
	}); err != nil {
		t.Fatalf("UpdateChannel modify: %v", err)
	}
	if _, err := s.UpdateChannel("C1", func(c *state.Channel) error { c.ID = "C2"; return nil }); err == nil {
		t.Fatal("UpdateChannel changing ID succeeded")
	}
	got, found, err := s.Channel("C1")
	want := state.Channel{ID: "C1", DefaultProject: "group/app", AllowedProjects: []string{"group/app", "group/lib"}, InviteHinted: true}
	if err != nil || !found || !reflect.DeepEqual(got, want) {
		t.Fatalf("state.Channel = %+v, %v, %v; want %+v", got, found, err, want)
	}
}

func testAuditNewestFirst(t *testing.T, db *DB) {
	s, clock := db.Open(t)
	explicit := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := 1; i <= 5; i++ {
		e := state.AuditEntry{User: "U1", Channel: "C1", Command: fmt.Sprintf("pipeline retry %d", i), Project: "g/app", Result: "ok"}
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

func testMarkOnce(t *testing.T, db *DB) {
	s, clock := db.Open(t)
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

func testPruneOnceDropsOnlyExpiredMarkers(t *testing.T, db *DB) {
	s, clock := db.Open(t)
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

func testPruneOnceWorksThroughALargeBucketInChunks(t *testing.T, db *DB) {
	s, clock := db.Open(t)
	var short, long []string
	for i := range 2600 {
		k := fmt.Sprintf("delivery-%05d", i)
		if i%3 == 0 {
			long = append(long, k)
		} else {
			short = append(short, k)
		}
	}
	if _, err := s.MarkOnceAll("ns", short, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := s.MarkOnceAll("ns", long, time.Hour); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Minute)
	removed, err := s.PruneOnce()
	if err != nil || removed != len(short) {
		t.Fatalf("PruneOnce = %d, %v; want %d", removed, err, len(short))
	}
	if first, _ := s.MarkOnce("ns", long[len(long)-1], time.Hour); first {
		t.Error("the last unexpired marker was pruned")
	}
	if first, _ := s.MarkOnce("ns", short[len(short)-1], time.Hour); !first {
		t.Error("the last expired marker was kept")
	}
	if removed, err := s.PruneOnce(); removed != 0 || err != nil {
		t.Errorf("a second PruneOnce = %d, %v; want 0", removed, err)
	}
}
