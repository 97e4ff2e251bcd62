package identity

import (
	"context"
	"testing"
)

// BenchmarkActorBot is the router's identity step in bot mode: the
// baseline.
func BenchmarkActorBot(b *testing.B) {
	r := newRig(b, ModeBot)
	ctx := context.Background()
	for b.Loop() {
		if _, err := r.svc.Actor(ctx, team, "U1"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkActorLinkedWarm is what a linked user's command adds on a warm
// link: resolving the actor (one bbolt read) and the access token of its
// first request (one bbolt read and an AES-GCM open); each further GitLab
// request of the command adds one more token read.
func BenchmarkActorLinkedWarm(b *testing.B) {
	r := newRig(b, ModeLinked)
	r.link("U1", aliceID)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		a, err := r.svc.Actor(ctx, team, "U1")
		if err != nil || a.Kind != KindLinked {
			b.Fatal(err)
		}
		if _, err := (&linkSource{s: r.svc, team: team, user: "U1"}).Token(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRefresh is one token refresh: the lock, POST /oauth/token to
// the simulator over loopback, and the new pair sealed and written (one
// bbolt transaction, synced to disk).
func BenchmarkRefresh(b *testing.B) {
	r := newRig(b, ModeLinked)
	r.link("U1", aliceID)
	ctx := context.Background()
	tok, err := (&linkSource{s: r.svc, team: team, user: "U1"}).Token(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if tok, err = r.svc.refresh(ctx, team, "U1", tok); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if n := r.svc.Refreshes(); n < b.N {
		b.Fatalf("%d refreshes for %d iterations", n, b.N)
	}
}
