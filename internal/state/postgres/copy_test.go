package postgres_test

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/pipebot/pipebot/internal/state"
	"github.com/pipebot/pipebot/internal/state/pgtest"
	"github.com/pipebot/pipebot/internal/state/postgres"
	"github.com/pipebot/pipebot/internal/state/storetest"
)

func TestCopyRoundTripsABboltFileThroughPostgresByteForByte(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	src, err := state.Open(filepath.Join(dir, "src.db"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	storetest.Populate(t, src)
	want := storetest.Dump(t, src.Engine())
	if len(want) < 12 {
		t.Fatalf("the populated file has only %d buckets: %v", len(want), want)
	}

	pg, err := postgres.Connect(ctx, pgtest.URL(t), postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	counts, err := state.Copy(ctx, pg, src.Engine())
	if err != nil {
		t.Fatalf("copy into PostgreSQL: %v", err)
	}
	if got := storetest.Dump(t, pg); !reflect.DeepEqual(got, want) {
		t.Fatalf("PostgreSQL holds\n%v\nwant\n%v", got, want)
	}
	for _, c := range counts {
		if d, ok := want[c.Bucket]; c.Records > 0 && (!ok || strings.Count(d, "=")-1 != c.Records) {
			t.Errorf("bucket %s counted %d records; the source holds %s", c.Bucket, c.Records, d)
		}
	}

	// And back into a new bbolt file: the same bytes.
	back, err := state.OpenBolt(filepath.Join(dir, "back.db"), state.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	if _, err := state.Copy(ctx, back, pg); err != nil {
		t.Fatalf("copy back into bbolt: %v", err)
	}
	if got := storetest.Dump(t, back); !reflect.DeepEqual(got, want) {
		t.Fatalf("the round trip holds\n%v\nwant\n%v", got, want)
	}

	// A target that holds data is refused and left as it was.
	if _, err := state.Copy(ctx, pg, src.Engine()); !errors.Is(err, state.ErrTargetNotEmpty) {
		t.Fatalf("a second copy = %v, want ErrTargetNotEmpty", err)
	}
	if got := storetest.Dump(t, pg); !reflect.DeepEqual(got, want) {
		t.Error("a refused copy changed the target")
	}

	// The copy opens as a store with everything readable.
	s, err := state.New(pg, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ws, err := s.Watches(); err != nil || len(ws) != 5 {
		t.Errorf("watches after the copy: %d, %v", len(ws), err)
	}
	if e, err := s.AppendAudit(state.AuditEntry{User: "U1", Command: "audit"}); err != nil || e.Seq != 4 {
		t.Errorf("the audit sequence did not carry over: next is %d, %v", e.Seq, err)
	}
}
