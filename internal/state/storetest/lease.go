package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pipebot/pipebot/internal/state"
)

func testLeaseHasOneHolderAndItsEpochFencesWrites(t *testing.T, db *DB) {
	ctx := context.Background()
	a, _ := db.Open(t)
	if !db.target.Leases {
		// One process: it always leads, and its fenced writes pass.
		l, err := a.AcquireLeadership(ctx, "a", time.Second)
		if err != nil || !l.Held || l.Epoch != 1 {
			t.Fatalf("AcquireLeadership without leases = %+v, %v", l, err)
		}
		if err := a.Fenced(func() (int64, error) { return 7, nil }).SetRole("U1", "admin"); err != nil {
			t.Fatalf("a fenced write on a single-process store: %v", err)
		}
		return
	}
	b := db.Second(t)
	const ttl = 400 * time.Millisecond
	la, err := a.AcquireLeadership(ctx, "a", ttl)
	if err != nil || !la.Held || la.Holder != "a" || la.Remaining <= 0 || la.Remaining > ttl {
		t.Fatalf("first AcquireLeadership = %+v, %v", la, err)
	}
	lb, err := b.AcquireLeadership(ctx, "b", ttl)
	if err != nil || lb.Held || lb.Holder != "a" || lb.Epoch != la.Epoch || lb.Remaining <= 0 {
		t.Fatalf("a second holder while the lease lasts = %+v, %v; want refused, naming a", lb, err)
	}
	renewed, err := a.AcquireLeadership(ctx, "a", ttl)
	if err != nil || !renewed.Held || renewed.Epoch != la.Epoch {
		t.Fatalf("renewal = %+v, %v; want held at the same epoch", renewed, err)
	}

	epochA := func() (int64, error) { return la.Epoch, nil }
	fencedA := a.Fenced(epochA)
	if err := fencedA.SetRole("U1", "operator"); err != nil {
		t.Fatalf("the holder's fenced write: %v", err)
	}
	if err := a.Fenced(func() (int64, error) { return 0, state.ErrNotLeader }).SetRole("U1", "admin"); !errors.Is(err, state.ErrNotLeader) {
		t.Errorf("a write whose fence says not leader = %v", err)
	}

	// a stops renewing; once the lease expired on the database's clock b
	// takes it, at the next epoch.
	time.Sleep(ttl + 100*time.Millisecond)
	lb, err = b.AcquireLeadership(ctx, "b", ttl)
	if err != nil || !lb.Held || lb.Epoch != la.Epoch+1 {
		t.Fatalf("takeover after expiry = %+v, %v; want held at epoch %d", lb, err, la.Epoch+1)
	}
	if err := fencedA.SetRole("U1", "admin"); !errors.Is(err, state.ErrFenced) {
		t.Fatalf("the old holder's write after the takeover = %v, want ErrFenced", err)
	}
	if r, _, _ := b.Role("U1"); r != "operator" {
		t.Errorf("a fenced write changed the role to %q", r)
	}
	if _, err := fencedA.UpdateWatch(wk("C1", 1, 1), func(*state.Watch) error { return nil }); !errors.Is(err, state.ErrFenced) {
		t.Errorf("a fenced read-modify-write = %v, want ErrFenced before anything else", err)
	}
	if again, err := a.AcquireLeadership(ctx, "a", ttl); err != nil || again.Held {
		t.Errorf("the old holder renewing after the takeover = %+v, %v; want refused", again, err)
	}

	// A release lets the other take over at once, at a new epoch.
	if err := b.ReleaseLeadership(ctx, "b", lb.Epoch); err != nil {
		t.Fatal(err)
	}
	la2, err := a.AcquireLeadership(ctx, "a", ttl)
	if err != nil || !la2.Held || la2.Epoch != lb.Epoch+1 {
		t.Fatalf("acquire after release = %+v, %v; want epoch %d", la2, err, lb.Epoch+1)
	}
	if err := b.ReleaseLeadership(ctx, "b", lb.Epoch); err != nil {
		t.Fatal(err)
	}
	if l, _ := b.AcquireLeadership(ctx, "b", ttl); l.Held {
		t.Error("a stale release ended the new holder's lease")
	}
}
