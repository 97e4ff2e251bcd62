package leader

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/pipebot/pipebot/internal/state"
	"github.com/pipebot/pipebot/internal/state/pgtest"
	"github.com/pipebot/pipebot/internal/state/postgres"
)

// partitioned is a replica's view of the database that the test can cut
// off, as a network partition or a paused process would.
type partitioned struct {
	*state.Store
	down atomic.Bool
}

var errPartitioned = errors.New("database unreachable (test partition)")

func (p *partitioned) AcquireLeadership(ctx context.Context, holder string, ttl time.Duration) (state.Lease, error) {
	if p.down.Load() {
		return state.Lease{}, errPartitioned
	}
	return p.Store.AcquireLeadership(ctx, holder, ttl)
}

// replica is one campaigning process.
type replica struct {
	name    string
	store   *partitioned
	elector *Elector
	cancel  context.CancelFunc
	done    chan struct{}
	terms   atomic.Int32
}

func startReplica(t *testing.T, name string, s *state.Store, ttl time.Duration) *replica {
	t.Helper()
	r := &replica{name: name, store: &partitioned{Store: s}, done: make(chan struct{})}
	r.elector = New(Config{Store: r.store, Holder: name, TTL: ttl, Logger: zerolog.Nop()})
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() {
		defer close(r.done)
		r.elector.Run(ctx, func(ctx context.Context) {
			r.terms.Add(1)
			<-ctx.Done()
		})
	}()
	t.Cleanup(r.stop)
	return r
}

func (r *replica) stop() {
	r.cancel()
	<-r.done
}

func openPG(t *testing.T, url string) *state.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// watchOverlap samples the replicas until stop is closed and reports
// whether two of them ever believed they led at once.
func watchOverlap(rs []*replica, stop <-chan struct{}) <-chan int {
	out := make(chan int, 1)
	go func() {
		worst := 0
		for {
			n := 0
			for _, r := range rs {
				if r.elector.Leading() {
					n++
				}
			}
			worst = max(worst, n)
			select {
			case <-stop:
				out <- worst
				return
			case <-time.After(200 * time.Microsecond):
			}
		}
	}()
	return out
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func leaderOf(rs []*replica) *replica {
	for _, r := range rs {
		if r.elector.Leading() {
			return r
		}
	}
	return nil
}

func TestOneReplicaLeadsAndAPartitionedLeaderStopsBeforeTheNextStarts(t *testing.T) {
	url := pgtest.URL(t)
	const ttl = 400 * time.Millisecond
	rs := []*replica{
		startReplica(t, "a", openPG(t, url), ttl),
		startReplica(t, "b", openPG(t, url), ttl),
		startReplica(t, "c", openPG(t, url), ttl),
	}
	stop := make(chan struct{})
	overlap := watchOverlap(rs, stop)

	waitFor(t, "a leader", 5*time.Second, func() bool { return leaderOf(rs) != nil })
	first := leaderOf(rs)
	epoch, err := first.elector.Epoch()
	if err != nil || epoch < 1 {
		t.Fatalf("the leader's epoch = %d, %v", epoch, err)
	}
	// It keeps the lease across several renewals.
	time.Sleep(3 * ttl)
	if l := leaderOf(rs); l != first {
		t.Fatalf("leadership moved without a failure")
	}
	if e, _ := first.elector.Epoch(); e != epoch {
		t.Fatalf("renewals changed the epoch from %d to %d", epoch, e)
	}

	// Cut the leader off: it must stop before another takes over (the
	// sampler checks), and another must take over within about a TTL.
	cut := time.Now()
	first.store.down.Store(true)
	waitFor(t, "a new leader", 3*ttl, func() bool { l := leaderOf(rs); return l != nil && l != first })
	t.Logf("failover after a partition: %s (ttl %s)", time.Since(cut).Round(time.Millisecond), ttl)
	second := leaderOf(rs)
	if e, err := second.elector.Epoch(); err != nil || e <= epoch {
		t.Errorf("the new leader's epoch = %d, %v; want above %d", e, err, epoch)
	}
	if err := first.elector.Gate(); !errors.Is(err, state.ErrNotLeader) {
		t.Errorf("the cut-off leader's gate = %v, want ErrNotLeader", err)
	}
	// Healed, the old leader stays a follower.
	first.store.down.Store(false)
	time.Sleep(2 * ttl)
	if leaderOf(rs) != second {
		t.Error("the healed replica took the lease back while the new leader renews it")
	}

	// A clean stop releases the lease: the next leader starts at once.
	stopped := time.Now()
	second.stop()
	waitFor(t, "a leader after a clean stop", ttl, func() bool { return leaderOf(rs) != nil })
	t.Logf("takeover after a clean stop: %s", time.Since(stopped).Round(time.Millisecond))

	close(stop)
	if worst := <-overlap; worst > 1 {
		t.Fatalf("%d replicas led at once", worst)
	}
	if n := second.terms.Load(); n != 1 {
		t.Errorf("the second leader ran %d terms, want 1", n)
	}
}

func TestOnASingleProcessStoreTheElectorAlwaysLeads(t *testing.T) {
	s, err := state.Open(t.TempDir()+"/pipebot.db", state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := startReplica(t, "only", s, time.Second)
	waitFor(t, "leadership", 2*time.Second, r.elector.Leading)
	if r.terms.Load() != 1 {
		t.Errorf("terms = %d, want 1", r.terms.Load())
	}
}
