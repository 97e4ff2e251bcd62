package state

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestLinksSurviveReopenAndWithLinkIsOneReadModifyWrite(t *testing.T) {
	s, clock, path := openTemp(t)
	if _, found, err := s.Link("T1", "U1"); found || err != nil {
		t.Fatalf("Link of a stranger = %v, %v", found, err)
	}
	l, err := s.WithLink("T1", "U1", func(l *Link, found bool) (RecordOp, error) {
		if found || l.Team != "T1" || l.User != "U1" {
			t.Errorf("new link: found %v, %+v", found, l)
		}
		l.GitLabUserID, l.GitLabUsername = 5, "alice"
		l.AccessToken, l.RefreshToken = []byte{1, 2}, []byte{3}
		l.Expiry = clock.Now().Add(2 * time.Hour)
		return Save, nil
	})
	if err != nil || l.Version != 1 || !l.CreatedAt.Equal(clock.Now()) {
		t.Fatalf("WithLink = %+v, %v", l, err)
	}
	// The same user in another workspace is another link.
	if _, found, _ := s.Link("T2", "U1"); found {
		t.Error("a link of T1/U1 answers for T2/U1")
	}
	clock.Advance(time.Minute)
	refused := errors.New("changed meanwhile")
	if _, err := s.WithLink("T1", "U1", func(l *Link, _ bool) (RecordOp, error) {
		l.GitLabUsername = "mallory"
		return Save, refused
	}); !errors.Is(err, refused) {
		t.Fatalf("WithLink error = %v", err)
	}
	if l, _ := s.WithLink("T1", "U1", func(l *Link, _ bool) (RecordOp, error) {
		l.AccessToken = []byte{9}
		return Save, nil
	}); l.Version != 2 || l.GitLabUsername != "alice" || !l.UpdatedAt.Equal(clock.Now()) {
		t.Errorf("second write = %+v", l)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, path, clock)
	t.Cleanup(func() { _ = s.Close() })
	l, found, err := s.Link("T1", "U1")
	if err != nil || !found || l.GitLabUsername != "alice" || string(l.AccessToken) != "\x09" || l.Version != 2 {
		t.Fatalf("after reopen: %+v, %v, %v", l, found, err)
	}
	all, err := s.Links()
	if err != nil || len(all) != 1 {
		t.Fatalf("Links = %+v, %v", all, err)
	}
	if existed, err := s.DeleteLink("T1", "U1"); !existed || err != nil {
		t.Fatalf("DeleteLink = %v, %v", existed, err)
	}
	if existed, _ := s.DeleteLink("T1", "U1"); existed {
		t.Error("a deleted link existed again")
	}
	if _, _, err := s.Link("T1", "U\x00"); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("key with the separator: %v", err)
	}
}

func TestLockLinkLetsOneHolderInAtATimePerLink(t *testing.T) {
	s, _, _ := openTemp(t)
	ctx := context.Background()
	var inside, most atomic.Int32
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			unlock, err := s.LockLink(ctx, "T1", "U1")
			if err != nil {
				t.Error(err)
				return
			}
			n := inside.Add(1)
			for {
				m := most.Load()
				if n <= m || most.CompareAndSwap(m, n) {
					break
				}
			}
			time.Sleep(time.Millisecond)
			inside.Add(-1)
			unlock()
		}()
	}
	wg.Wait()
	if most.Load() != 1 {
		t.Errorf("%d holders at once, want 1", most.Load())
	}
	// Another link is not held up by a held one; a held one times out.
	unlock, _ := s.LockLink(ctx, "T1", "U1")
	defer unlock()
	other, err := s.LockLink(ctx, "T1", "U2")
	if err != nil {
		t.Fatal(err)
	}
	other()
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if _, err := s.LockLink(short, "T1", "U1"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("waiting on a held link: %v", err)
	}
}

func TestPendingLoginsAreSingleUseAndExpiredOnesArePruned(t *testing.T) {
	s, clock, _ := openTemp(t)
	p := PendingLogin{StateHash: "h1", Team: "T1", User: "U1", Verifier: []byte{1}, CreatedAt: clock.Now(), ExpiresAt: clock.Now().Add(10 * time.Minute)}
	if err := s.PutPendingLogin(p); err != nil {
		t.Fatal(err)
	}
	if err := s.PutPendingLogin(p); !errors.Is(err, ErrPendingExists) {
		t.Errorf("the same state twice: %v", err)
	}
	take := func(hash string) (PendingLogin, bool) {
		var got PendingLogin
		var ok bool
		if err := s.WithPendingLogin(hash, func(p *PendingLogin, found bool) (RecordOp, error) {
			got, ok = *p, found
			if found {
				return Delete, nil
			}
			return Keep, nil
		}); err != nil {
			t.Fatal(err)
		}
		return got, ok
	}
	if got, ok := take("h1"); !ok || got.User != "U1" {
		t.Fatalf("take = %+v, %v", got, ok)
	}
	if _, ok := take("h1"); ok {
		t.Error("a pending login was taken twice")
	}
	_ = s.PutPendingLogin(PendingLogin{StateHash: "old", ExpiresAt: clock.Now().Add(time.Minute)})
	clock.Advance(2 * time.Minute)
	_ = s.PutPendingLogin(PendingLogin{StateHash: "new", ExpiresAt: clock.Now().Add(time.Minute)})
	ps, err := s.PendingLogins()
	if err != nil || len(ps) != 1 || ps[0].StateHash != "new" {
		t.Errorf("pending after prune = %+v, %v", ps, err)
	}
}
