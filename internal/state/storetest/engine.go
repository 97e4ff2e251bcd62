package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/pipebot/pipebot/internal/state"
)

func testReopenKeepsEverything(t *testing.T, db *DB) {
	s, clock := db.Open(t)
	w := sampleWatch("C1", 7, 42)
	w.CardPending = true
	steps := []error{
		s.PutWatch(w),
		s.SetCursor(7, clock.Now()),
		s.SetRole("U1", "admin"),
	}
	_, err := s.UpdateChannel("C1", func(c *state.Channel) error { c.DefaultProject = "group/app"; return nil })
	steps = append(steps, err)
	_, err = s.AppendAudit(state.AuditEntry{User: "U1", Command: "role grant"})
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

	s = db.Reopen(t)
	if v, err := s.SchemaVersion(); v != state.KnownSchemaVersion() || err != nil {
		t.Fatalf("SchemaVersion after reopen = %d, %v", v, err)
	}
	got, found, err := s.Watch(w.Key())
	if err != nil || !found || !got.CardPending || got.MessageTS != w.MessageTS {
		t.Fatalf("Watch after reopen = %+v, %v, %v", got, found, err)
	}
	if r, found, _ := s.Role("U1"); r != "admin" || !found {
		t.Fatalf("Role after reopen = %q", r)
	}
	if c, _, _ := s.Channel("C1"); c.DefaultProject != "group/app" {
		t.Fatalf("Channel after reopen = %+v", c)
	}
	if first, err := s.MarkOnce("slack", "k1", time.Hour); first || err != nil {
		t.Fatalf("MarkOnce after reopen = %v, %v; want false", first, err)
	}
	e, err := s.AppendAudit(state.AuditEntry{User: "U1", Command: "audit"})
	if err != nil || e.Seq != 2 {
		t.Fatalf("AppendAudit after reopen = seq %d, %v; want 2", e.Seq, err)
	}
}

var testBucket = []byte("storetest")

// update runs fn on the engine under s in one read-write transaction.
func update(t *testing.T, s *state.Store, fn func(tx state.Tx) error) error {
	t.Helper()
	return s.Engine().Update(context.Background(), func(tx state.Tx) error {
		if err := tx.CreateBucket(testBucket); err != nil {
			return err
		}
		return fn(tx)
	})
}

func view(t *testing.T, s *state.Store, fn func(tx state.Tx) error) {
	t.Helper()
	if err := s.Engine().View(context.Background(), fn); err != nil {
		t.Fatalf("view: %v", err)
	}
}

func testScanOrdersPrefixesAndStops(t *testing.T, db *DB) {
	s, _ := db.Open(t)
	keys := [][]byte{{0x01}, {0x01, 0x00}, {0x01, 0xff}, {0x01, 0xff, 0xff}, {0x02}, {0xff}, {0xff, 0x00}, []byte("a"), []byte("ab"), []byte("b")}
	if err := update(t, s, func(tx state.Tx) error {
		for i := len(keys) - 1; i >= 0; i-- {
			if err := tx.Put(testBucket, keys[i], []byte(fmt.Sprint(i))); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	collect := func(prefix []byte, reverse bool, limit int) []string {
		var out []string
		view(t, s, func(tx state.Tx) error {
			out = nil
			return tx.Scan(testBucket, prefix, reverse, func(k, v []byte) error {
				if limit > 0 && len(out) == limit {
					return state.ErrStopScan
				}
				out = append(out, fmt.Sprintf("%x=%s", k, v))
				return nil
			})
		})
		return out
	}
	tests := []struct {
		name    string
		prefix  []byte
		reverse bool
		limit   int
		want    []string
	}{
		{"all in bytewise order", nil, false, 0, []string{"01=0", "0100=1", "01ff=2", "01ffff=3", "02=4", "61=7", "6162=8", "62=9", "ff=5", "ff00=6"}},
		{"all reversed", nil, true, 0, []string{"ff00=6", "ff=5", "62=9", "6162=8", "61=7", "02=4", "01ffff=3", "01ff=2", "0100=1", "01=0"}},
		{"a prefix", []byte{0x01}, false, 0, []string{"01=0", "0100=1", "01ff=2", "01ffff=3"}},
		{"a prefix reversed", []byte{0x01}, true, 0, []string{"01ffff=3", "01ff=2", "0100=1", "01=0"}},
		{"a prefix ending in 0xff", []byte{0x01, 0xff}, true, 0, []string{"01ffff=3", "01ff=2"}},
		{"an all-0xff prefix", []byte{0xff}, false, 0, []string{"ff=5", "ff00=6"}},
		{"an all-0xff prefix reversed", []byte{0xff}, true, 0, []string{"ff00=6", "ff=5"}},
		{"a prefix nothing has", []byte("c"), false, 0, nil},
		{"stopped early", nil, true, 2, []string{"ff00=6", "ff=5"}},
	}
	for _, tt := range tests {
		if got := collect(tt.prefix, tt.reverse, tt.limit); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
	from := func(k []byte) []string {
		var out []string
		view(t, s, func(tx state.Tx) error {
			out = nil
			return tx.ScanFrom(testBucket, k, func(k, _ []byte) error {
				out = append(out, fmt.Sprintf("%x", k))
				if len(out) == 3 {
					return state.ErrStopScan
				}
				return nil
			})
		})
		return out
	}
	for _, tt := range []struct {
		from []byte
		want []string
	}{
		{nil, []string{"01", "0100", "01ff"}},
		{[]byte{0x01, 0xff}, []string{"01ff", "01ffff", "02"}},
		{[]byte{0x01, 0xfe}, []string{"01ff", "01ffff", "02"}},
		{[]byte{0xff, 0x00}, []string{"ff00"}},
		{[]byte{0xff, 0x01}, nil},
	} {
		if got := from(tt.from); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ScanFrom %x: %v, want %v", tt.from, got, tt.want)
		}
	}
	// Longer than a page of the PostgreSQL engine, read while writing
	// elsewhere in the same transaction.
	if err := update(t, s, func(tx state.Tx) error {
		for i := range 700 {
			if err := tx.Put(testBucket, fmt.Appendf(nil, "p%04d", i), []byte("x")); err != nil {
				return err
			}
		}
		n := 0
		err := tx.Scan(testBucket, []byte("p"), false, func(k, _ []byte) error {
			if want := fmt.Sprintf("p%04d", n); string(k) != want {
				return fmt.Errorf("key %d is %s, want %s", n, k, want)
			}
			n++
			_, err := tx.Get(testBucket, k)
			return err
		})
		if err == nil && n != 700 {
			err = fmt.Errorf("scanned %d keys, want 700", n)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	view(t, s, func(tx state.Tx) error {
		if n, err := tx.Count(testBucket); n != 710 || err != nil {
			t.Errorf("Count = %d, %v; want 710", n, err)
		}
		return nil
	})
}

func testUpdateIsAllOrNothing(t *testing.T, db *DB) {
	s, _ := db.Open(t)
	boom := errors.New("boom")
	err := update(t, s, func(tx state.Tx) error {
		if err := tx.Put(testBucket, []byte("k"), []byte("v")); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update = %v, want the error fn returned", err)
	}
	view(t, s, func(tx state.Tx) error {
		if v, err := tx.Get(testBucket, []byte("k")); v != nil || err != nil {
			t.Errorf("a failed Update left %q, %v", v, err)
		}
		return nil
	})
	if err := update(t, s, func(tx state.Tx) error { return tx.Put(testBucket, []byte("k"), []byte{}) }); err != nil {
		t.Fatal(err)
	}
	// A read-only transaction refuses writes, first statement or not.
	for _, reads := range []int{0, 2} {
		err := s.Engine().View(context.Background(), func(tx state.Tx) error {
			for range reads {
				if _, err := tx.Get(testBucket, []byte("k")); err != nil {
					return err
				}
			}
			return tx.Put(testBucket, []byte("written-in-a-view"), []byte("x"))
		})
		if err == nil {
			t.Errorf("a write after %d reads in a View succeeded", reads)
		}
	}
	view(t, s, func(tx state.Tx) error {
		if v, _ := tx.Get(testBucket, []byte("written-in-a-view")); v != nil {
			t.Error("a View wrote")
		}
		return nil
	})
	view(t, s, func(tx state.Tx) error {
		v, err := tx.Get(testBucket, []byte("k"))
		if v == nil || len(v) != 0 || err != nil {
			t.Errorf("an empty value reads back as %v, %v; want empty, not absent", v, err)
		}
		return nil
	})
	if err := update(t, s, func(tx state.Tx) error {
		existed, err := tx.Delete(testBucket, []byte("k"))
		if !existed || err != nil {
			return fmt.Errorf("Delete = %v, %v", existed, err)
		}
		existed, err = tx.Delete(testBucket, []byte("k"))
		if existed || err != nil {
			return fmt.Errorf("second Delete = %v, %v", existed, err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func testSequencesAndBuckets(t *testing.T, db *DB) {
	s, _ := db.Open(t)
	other := []byte("storetest_seq")
	var got []uint64
	if err := update(t, s, func(tx state.Tx) error {
		got = nil
		if err := tx.CreateBucket(other); err != nil {
			return err
		}
		for range 3 {
			n, err := tx.NextSequence(testBucket)
			if err != nil {
				return err
			}
			got = append(got, n)
		}
		if err := tx.SetSequence(other, 41); err != nil {
			return err
		}
		n, err := tx.NextSequence(other)
		got = append(got, n)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, []uint64{1, 2, 3, 42}) {
		t.Fatalf("sequences = %v, want [1 2 3 42]", got)
	}
	view(t, s, func(tx state.Tx) error {
		if n, err := tx.Sequence(testBucket); n != 3 || err != nil {
			t.Errorf("Sequence = %d, %v; want 3", n, err)
		}
		names, err := tx.Buckets()
		if err != nil {
			return err
		}
		for _, want := range [][]byte{testBucket, other} {
			found := false
			for _, n := range names {
				found = found || bytes.Equal(n, want)
			}
			if !found {
				t.Errorf("Buckets %q lack %s, which holds a sequence", names, want)
			}
		}
		return nil
	})
}
