package storetest

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pipebot/pipebot/internal/state"
)

func testQueueHandsItemsOverOnceInOrder(t *testing.T, db *DB) {
	a, clock := db.Open(t)
	b := db.Second(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wake, err := b.Listen(ctx, state.QueueChannel)
	if err != nil {
		t.Fatal(err)
	}
	drain(wake)

	id1, queued, err := a.Enqueue("hook", []byte(`{"n":1}`), "gitlab-hook", []string{"uuid:1", "idem:1"}, time.Hour)
	if err != nil || !queued || id1 == "" {
		t.Fatalf("Enqueue = %q, %v, %v", id1, queued, err)
	}
	if !woken(wake) {
		t.Error("an enqueue in one process did not wake the other's listener")
	}
	// A redelivery under either key, through the other process, is dropped.
	for _, k := range []string{"uuid:1", "idem:1"} {
		if _, queued, err := b.Enqueue("hook", []byte(`{"n":1}`), "gitlab-hook", []string{k}, time.Hour); queued || err != nil {
			t.Errorf("redelivery with %s: queued %v, %v", k, queued, err)
		}
	}
	clock.Advance(time.Millisecond)
	id2, _, err := b.Enqueue("watch", []byte(`{"n":2}`), "", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	items, err := a.Queued(10)
	if err != nil || len(items) != 2 || items[0].ID != id1 || items[1].ID != id2 || string(items[0].Payload) != `{"n":1}` || items[1].Kind != "watch" {
		t.Fatalf("Queued = %+v, %v; want the two items oldest first", items, err)
	}
	if items, _ := a.Queued(1); len(items) != 1 || items[0].ID != id1 {
		t.Errorf("Queued(1) = %+v", items)
	}
	it, found, err := b.StartQueued(id2)
	if err != nil || !found || it.Started {
		t.Fatalf("StartQueued = %+v, %v, %v; want the item as it was", it, found, err)
	}
	if it, _, _ := b.StartQueued(id2); !it.Started {
		t.Error("a started item does not say so when started again")
	}
	rwake, err := a.Listen(ctx, state.ResultChannel)
	if err != nil {
		t.Fatal(err)
	}
	drain(rwake)
	if err := b.FinishQueued(id2, "not_in_channel"); err != nil {
		t.Fatal(err)
	}
	if !woken(rwake) {
		t.Error("a finished item did not wake the result listener")
	}
	if r, found, err := a.QueueResult(id2); r != "not_in_channel" || !found || err != nil {
		t.Errorf("QueueResult = %q, %v, %v", r, found, err)
	}
	if err := a.FinishQueued(id1, ""); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := a.QueueResult(id1); found {
		t.Error("an item finished without a result has one")
	}
	if items, _ := b.Queued(0); len(items) != 0 {
		t.Errorf("finished items still queued: %+v", items)
	}
	if _, found, err := a.StartQueued(id1); found || err != nil {
		t.Errorf("starting a finished item: found %v, %v", found, err)
	}
	// The dedupe keys outlive the item.
	if _, queued, _ := b.Enqueue("hook", nil, "gitlab-hook", []string{"uuid:1"}, time.Hour); queued {
		t.Error("a redelivery after the item was done was queued")
	}
	clock.Advance(state.ResultTTL + time.Second)
	if n, err := a.PruneQueueResults(); n != 1 || err != nil {
		t.Errorf("PruneQueueResults = %d, %v; want 1", n, err)
	}
	if _, _, err := a.QueueResult("not hex"); !errors.Is(err, state.ErrInvalidKey) {
		t.Errorf("QueueResult of a bad id = %v", err)
	}
}

func testQueueRacingRedeliveriesQueueOne(t *testing.T, db *DB) {
	a, _ := db.Open(t)
	b := db.Second(t)
	var queued atomic.Int32
	errs := race([2]*state.Store{a, b}, 40, func(s *state.Store, i int) error {
		// Four deliveries, each sent ten times to both processes.
		_, q, err := s.Enqueue("hook", nil, "gitlab-hook", []string{"uuid:" + strconv.Itoa(i%4)}, time.Hour)
		if q {
			queued.Add(1)
		}
		return err
	})
	if len(errs) > 0 {
		t.Fatal(errs[0])
	}
	if n := queued.Load(); n != 4 {
		t.Errorf("%d items queued from 4 deliveries sent 10 times each", n)
	}
	if items, _ := a.Queued(0); len(items) != 4 {
		t.Errorf("%d items in the queue, want 4", len(items))
	}
}

func drain(ch <-chan struct{}) {
	for {
		select {
		case <-ch:
		case <-time.After(200 * time.Millisecond):
			return
		}
	}
}

func woken(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	case <-time.After(5 * time.Second):
		return false
	}
}
