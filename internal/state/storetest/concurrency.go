package storetest

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pipebot/pipebot/internal/state"
)

// Two pipebot processes on one database race on the same records; every
// read-modify-write must still be atomic, and a create-if-absent race must
// have one winner.

// race runs fn(store, i) for i in [0, n) on goroutines spread over two
// stores and returns the errors.
func race(stores [2]*state.Store, n int, fn func(s *state.Store, i int) error) []error {
	var wg sync.WaitGroup
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn(stores[i%2], i)
		})
	}
	close(start)
	wg.Wait()
	var out []error
	for _, err := range errs {
		if err != nil {
			out = append(out, err)
		}
	}
	return out
}

func testTwoProcessesMarkOnceHaveOneFirst(t *testing.T, db *DB) {
	a, _ := db.Open(t)
	b := db.Second(t)
	const keys, tries = 20, 6
	var mu sync.Mutex
	firsts := map[string]int{}
	errs := race([2]*state.Store{a, b}, keys*tries, func(s *state.Store, i int) error {
		key := "delivery-" + strconv.Itoa(i%keys)
		first, err := s.MarkOnce("slack", key, time.Hour)
		if first {
			mu.Lock()
			firsts[key]++
			mu.Unlock()
		}
		return err
	})
	if len(errs) > 0 {
		t.Fatalf("MarkOnce: %v", errs[0])
	}
	for i := range keys {
		if n := firsts["delivery-"+strconv.Itoa(i)]; n != 1 {
			t.Errorf("delivery-%d was first %d times, want once", i, n)
		}
	}
}

func testTwoProcessesReadModifyWriteLoseNothing(t *testing.T, db *DB) {
	a, _ := db.Open(t)
	b := db.Second(t)
	k := wk("C1", 1, 1)
	w := sampleWatch(k.Channel, k.ProjectID, k.PipelineID)
	w.LastStatus = "0"
	if err := a.PutWatch(w); err != nil {
		t.Fatal(err)
	}
	const n = 60
	errs := race([2]*state.Store{a, b}, n, func(s *state.Store, i int) error {
		if _, err := s.UpdateWatch(k, func(w *state.Watch) error {
			c, err := strconv.Atoi(w.LastStatus)
			w.LastStatus = strconv.Itoa(c + 1)
			return err
		}); err != nil {
			return err
		}
		// A record neither has yet: each adds its own project.
		_, err := s.UpdateChannel("C-new", func(c *state.Channel) error {
			c.AllowedProjects = append(c.AllowedProjects, fmt.Sprintf("g/p%02d", i))
			return nil
		})
		return err
	})
	if len(errs) > 0 {
		t.Fatalf("update: %v", errs[0])
	}
	got, _, err := b.Watch(k)
	if err != nil || got.LastStatus != strconv.Itoa(n) {
		t.Errorf("counter = %q, %v; want %d: an increment was lost", got.LastStatus, err, n)
	}
	ch, _, err := a.Channel("C-new")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(ch.AllowedProjects)
	var want []string
	for i := range n {
		want = append(want, fmt.Sprintf("g/p%02d", i))
	}
	if !reflect.DeepEqual(ch.AllowedProjects, want) {
		t.Errorf("projects added concurrently: %d of %d kept", len(ch.AllowedProjects), n)
	}
	if es, err := a.Audit(0); err != nil || len(es) != 0 {
		t.Fatalf("Audit = %v, %v", es, err)
	}
	errs = race([2]*state.Store{a, b}, 30, func(s *state.Store, i int) error {
		_, err := s.AppendAudit(state.AuditEntry{User: "U1", Command: strconv.Itoa(i)})
		return err
	})
	if len(errs) > 0 {
		t.Fatal(errs[0])
	}
	es, err := b.Audit(0)
	if err != nil || len(es) != 30 || es[0].Seq != 30 || es[29].Seq != 1 {
		t.Errorf("audit appended from two processes: %d entries, %v", len(es), err)
	}
}

func testTwoProcessesClaimOneCard(t *testing.T, db *DB) {
	a, _ := db.Open(t)
	b := db.Second(t)
	for i := int64(1); i <= 20; i++ {
		w := sampleWatch("C1", 7, i)
		var watchWon, subWon bool
		errs := race([2]*state.Store{a, b}, 2, func(s *state.Store, n int) error {
			var err error
			if n == 0 {
				_, watchWon, err = s.ClaimWatchCard(w)
			} else {
				_, subWon, err = s.ClaimSubCard(state.SubCardKey(w.Key()), "group/app")
			}
			return err
		})
		if len(errs) > 0 {
			t.Fatal(errs[0])
		}
		if watchWon == subWon {
			t.Fatalf("pipeline %d: watch won %v, subscription won %v; want exactly one", i, watchWon, subWon)
		}
	}
}

func testTwoProcessesSeeEachOthersWritesAtOnce(t *testing.T, db *DB) {
	a, _ := db.Open(t)
	b := db.Second(t)
	if err := a.SetRole("U1", "admin"); err != nil {
		t.Fatal(err)
	}
	if r, found, err := b.Role("U1"); r != "admin" || !found || err != nil {
		t.Errorf("a role granted through one process reads %q, %v, %v in the other", r, found, err)
	}
	if err := b.PutWatch(sampleWatch("C9", 3, 4)); err != nil {
		t.Fatal(err)
	}
	ws, err := a.Watches()
	if err != nil || len(ws) != 1 || ws[0].Channel != "C9" {
		t.Errorf("a watch written by one process: the other lists %+v, %v", ws, err)
	}
	if err := b.DeleteWatch(wk("C9", 3, 4)); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := a.Watch(wk("C9", 3, 4)); found {
		t.Error("a watch deleted by one process is still found by the other")
	}
}

func testTwoProcessesRacingCopiesOfADeliveryRunOne(t *testing.T, db *DB) {
	a, _ := db.Open(t)
	b := db.Second(t)
	for i := range 20 {
		keys := []string{"event:E" + strconv.Itoa(i), "envelope:X" + strconv.Itoa(i)}
		var firsts atomic.Int32
		errs := race([2]*state.Store{a, b}, 4, func(s *state.Store, _ int) error {
			first, err := s.MarkOnceAll("slack", keys, time.Hour)
			if first {
				firsts.Add(1)
			}
			return err
		})
		if len(errs) > 0 {
			t.Fatal(errs[0])
		}
		if n := firsts.Load(); n != 1 {
			t.Fatalf("delivery %d: %d copies ran, want exactly one", i, n)
		}
	}
	// A redelivery under a new envelope is a duplicate, and marks the new
	// envelope, so a later copy carrying only that envelope is one too.
	if first, err := a.MarkOnceAll("slack", []string{"event:E0", "envelope:Y"}, time.Hour); first || err != nil {
		t.Errorf("a redelivery in a new envelope: first %v, %v", first, err)
	}
	if first, err := b.MarkOnceAll("slack", []string{"envelope:Y"}, time.Hour); first || err != nil {
		t.Errorf("the new envelope again: first %v, %v", first, err)
	}
	if first, err := b.MarkOnceAll("slack", nil, time.Hour); !first || err != nil {
		t.Errorf("a delivery without keys: first %v, %v; want it to run", first, err)
	}
}

func testALockHasOneHolderAcrossProcesses(t *testing.T, db *DB) {
	a, _ := db.Open(t)
	b := db.Second(t)
	ctx := t.Context()
	unlock, err := a.Lock(ctx, "link/T1/U1")
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	_, err = b.Lock(short, "link/T1/U1")
	cancel()
	if err == nil {
		t.Fatal("a second holder took a held lock")
	}
	other, err := b.Lock(ctx, "link/T1/U2")
	if err != nil {
		t.Fatalf("another lock: %v", err)
	}
	other()
	got := make(chan func(), 1)
	go func() {
		u, err := b.Lock(ctx, "link/T1/U1")
		if err != nil {
			t.Error(err)
			u = func() {}
		}
		got <- u
	}()
	select {
	case <-got:
		t.Fatal("the lock was taken while held")
	case <-time.After(100 * time.Millisecond):
	}
	unlock()
	unlock() // twice is harmless
	select {
	case u := <-got:
		u()
	case <-time.After(5 * time.Second):
		t.Fatal("the waiter never got the lock after it was released")
	}
	// Held by many in turn, never by two at once.
	var mu sync.Mutex
	holders, worst := 0, 0
	errs := race([2]*state.Store{a, b}, 20, func(s *state.Store, _ int) error {
		u, err := s.Lock(ctx, "hot")
		if err != nil {
			return err
		}
		mu.Lock()
		holders++
		worst = max(worst, holders)
		mu.Unlock()
		time.Sleep(time.Millisecond)
		mu.Lock()
		holders--
		mu.Unlock()
		u()
		return nil
	})
	if len(errs) > 0 {
		t.Fatal(errs[0])
	}
	if worst != 1 {
		t.Errorf("%d held the lock at once", worst)
	}
}
