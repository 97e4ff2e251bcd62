package postgres_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/pipebot/pipebot/internal/state"
	"github.com/pipebot/pipebot/internal/state/pgtest"
	"github.com/pipebot/pipebot/internal/state/postgres"
)

// tickOps replays what one watcher tick asks its store, with 100 watches
// over 5 projects, 5 subscriptions and 20 live unfurls of which 10 changed:
// the three listings, a cursor read and write per project, and an update of
// each changed watch. It returns how many store operations it made.
func tickOps(b *testing.B, s *state.Store) int {
	ops := 0
	if _, err := s.Watches(); err != nil {
		b.Fatal(err)
	}
	if _, err := s.Subscriptions(); err != nil {
		b.Fatal(err)
	}
	if _, err := s.Unfurls(); err != nil {
		b.Fatal(err)
	}
	ops += 3
	for p := int64(1); p <= 5; p++ {
		c, _, err := s.Cursor(p)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.SetCursor(p, c.Add(time.Second)); err != nil {
			b.Fatal(err)
		}
		ops += 2
	}
	for i := int64(0); i < 10; i++ {
		_, err := s.UpdateWatch(state.WatchKey{Channel: "C1", ProjectID: 1 + i%5, PipelineID: 1000 + i}, func(w *state.Watch) error {
			n, _ := strconv.Atoi(w.LastStatus)
			w.LastStatus = strconv.Itoa(n + 1)
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		ops++
	}
	return ops
}

func seed(b *testing.B, s *state.Store) {
	for i := int64(0); i < 100; i++ {
		w := state.Watch{Channel: "C1", ProjectID: 1 + i%5, Project: "g/app", PipelineID: 1000 + i, MessageTS: "1.2", LastStatus: "0"}
		if err := s.PutWatch(w); err != nil {
			b.Fatal(err)
		}
	}
	for p := int64(1); p <= 5; p++ {
		if err := s.PutSubscription(state.Subscription{Channel: "C2", Target: state.ProjectTarget(p), ProjectID: p, Project: "g/app"}); err != nil {
			b.Fatal(err)
		}
		if err := s.SetCursor(p, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
	for i := range 20 {
		u := state.Unfurl{Channel: "C3", TS: fmt.Sprintf("1.%d", i), URL: "https://x/-/pipelines/" + strconv.Itoa(i), ProjectID: 1, PipelineID: int64(i + 1)}
		if err := s.PutUnfurl(u); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTickStoreOps measures the store operations of one watcher tick
// on bbolt and on PostgreSQL (a local server: add the network's round
// trips for a remote one).
func BenchmarkTickStoreOps(b *testing.B) {
	engines := []struct {
		name string
		open func(b *testing.B) *state.Store
	}{
		{"bbolt", func(b *testing.B) *state.Store {
			s, err := state.Open(filepath.Join(b.TempDir(), "pipebot.db"), state.Options{})
			if err != nil {
				b.Fatal(err)
			}
			return s
		}},
		{"postgres", func(b *testing.B) *state.Store {
			s, err := postgres.Open(context.Background(), pgtest.URL(b), postgres.Options{})
			if err != nil {
				b.Fatal(err)
			}
			return s
		}},
	}
	for _, e := range engines {
		b.Run(e.name, func(b *testing.B) {
			s := e.open(b)
			defer s.Close()
			seed(b, s)
			ops := 0
			b.ResetTimer()
			for b.Loop() {
				ops += tickOps(b, s)
			}
			b.StopTimer()
			b.ReportMetric(float64(ops)/b.Elapsed().Seconds(), "store_ops/s")
			b.ReportMetric(float64(ops)/float64(b.N), "ops/tick")
		})
	}
}

// BenchmarkUpdateRacingTwoProcesses measures read-modify-writes of one
// record from two connection pools at once, as two replicas would make,
// retries on serialization failures included.
func BenchmarkUpdateRacingTwoProcesses(b *testing.B) {
	url := pgtest.URL(b)
	a, err := postgres.Open(context.Background(), url, postgres.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	c, err := postgres.Open(context.Background(), url, postgres.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if err := a.PutWatch(state.Watch{Channel: "C1", ProjectID: 1, PipelineID: 1, LastStatus: "0"}); err != nil {
		b.Fatal(err)
	}
	k := state.WatchKey{Channel: "C1", ProjectID: 1, PipelineID: 1}
	b.SetParallelism(2)
	n := 0
	b.RunParallel(func(pb *testing.PB) {
		s := a
		if n++; n%2 == 0 {
			s = c
		}
		for pb.Next() {
			if _, err := s.UpdateWatch(k, func(w *state.Watch) error {
				v, _ := strconv.Atoi(w.LastStatus)
				w.LastStatus = strconv.Itoa(v + 1)
				return nil
			}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkCopyBoltToPostgres measures pipebot migrate's copy of a bbolt
// file of 20,000 records of 300 bytes into a new database.
func BenchmarkCopyBoltToPostgres(b *testing.B) {
	src, err := state.OpenBolt(filepath.Join(b.TempDir(), "src.db"), state.BoltOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	const n = 20000
	value := make([]byte, 300)
	if err := src.Update(context.Background(), func(tx state.Tx) error {
		if err := tx.CreateBucket([]byte("watches")); err != nil {
			return err
		}
		for i := range n {
			if err := tx.Put([]byte("watches"), fmt.Appendf(nil, "k%08d", i), value); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		b.StopTimer()
		dst, err := postgres.Connect(context.Background(), pgtest.URL(b), postgres.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := state.Copy(context.Background(), dst, src); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		dst.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
}
