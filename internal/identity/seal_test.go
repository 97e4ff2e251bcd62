package identity

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"os"
	"strings"
	"testing"
)

func TestParseKeyWantsThirtyTwoBytesOfStandardBase64(t *testing.T) {
	good := base64.StdEncoding.EncodeToString(testKey(7))
	if k, err := ParseKey(" " + good + "\n"); err != nil || !bytes.Equal(k, testKey(7)) {
		t.Fatalf("ParseKey = %v, %v", k, err)
	}
	for _, bad := range []string{"", "not base64!", base64.StdEncoding.EncodeToString(testKey(7)[:16]), base64.RawURLEncoding.EncodeToString(testKey(250))} {
		if _, err := ParseKey(bad); err == nil || strings.Contains(err.Error(), bad) && bad != "" {
			t.Errorf("ParseKey(%q) = %v", bad, err)
		}
	}
}

func TestSealedValuesOpenOnlyWithTheirKeyAndPlace(t *testing.T) {
	s, _ := NewSealer(testKey(1), nil)
	a, _ := s.Seal([]byte("secret"), []byte("place"))
	b, _ := s.Seal([]byte("secret"), []byte("place"))
	if bytes.Equal(a, b) || bytes.Contains(a, []byte("secret")) {
		t.Error("two seals of one value are equal (a nonce per write) or hold the plain text")
	}
	if p, err := s.Open(a, []byte("place")); err != nil || string(p) != "secret" {
		t.Fatalf("Open = %q, %v", p, err)
	}
	if _, err := s.Open(a, []byte("another place")); !errors.Is(err, ErrWrongKey) {
		t.Errorf("opened in another place: %v", err)
	}
	other, _ := NewSealer(testKey(2), nil)
	if _, err := other.Open(a, []byte("place")); !errors.Is(err, ErrWrongKey) {
		t.Errorf("opened with another key: %v", err)
	}
	a[len(a)-1] ^= 1
	if _, err := s.Open(a, []byte("place")); !errors.Is(err, ErrWrongKey) {
		t.Errorf("opened an altered value: %v", err)
	}
}

func TestStoredTokensAreUnreadableWithAnotherKeyUnlessItIsThePreviousOne(t *testing.T) {
	r := newRig(t, ModeLinked)
	r.link("U1", aliceID)
	ctx := context.Background()
	db, _ := os.ReadFile(r.dbPath)
	l, _, _ := r.store.Link(team, "U1")
	access, _ := r.svc.cfg.Sealer.Open(l.AccessToken, accessAAD(team, "U1"))
	if len(access) == 0 || bytes.Contains(db, access) {
		t.Fatal("the access token is readable in the bbolt file")
	}

	// A wrong key: serve stops, and nothing changes.
	wrong, _ := NewSealer(testKey(9), nil)
	r.svc.cfg.Sealer = wrong
	var km *KeyMismatchError
	if _, err := r.svc.CheckKey(ctx); !errors.As(err, &km) || km.Unreadable != 1 || km.Total != 1 {
		t.Fatalf("CheckKey with a wrong key = %v", err)
	}
	if a, err := r.svc.Actor(ctx, team, "U1"); err == nil {
		if _, err := a.GitLab.CurrentUser(ctx); !errors.Is(err, ErrWrongKey) {
			t.Errorf("a command with the wrong key: %v", err)
		}
	}
	if after, _, _ := r.store.Link(team, "U1"); !bytes.Equal(after.AccessToken, l.AccessToken) {
		t.Error("a failed check changed the link")
	}

	// Rotation: the new key with the old one as previous re-seals.
	rotated, _ := NewSealer(testKey(3), r.key)
	r.svc.cfg.Sealer = rotated
	n, err := r.svc.CheckKey(ctx)
	if err != nil || n != 1 {
		t.Fatalf("CheckKey rotating = %d, %v", n, err)
	}
	onlyNew, _ := NewSealer(testKey(3), nil)
	r.svc.cfg.Sealer = onlyNew
	if n, err := r.svc.CheckKey(ctx); err != nil || n != 0 {
		t.Fatalf("after rotation the new key alone: %d, %v", n, err)
	}
	a, err := r.svc.Actor(ctx, team, "U1")
	if err != nil {
		t.Fatal(err)
	}
	if u, err := a.GitLab.CurrentUser(ctx); err != nil || u.Username != "alice" {
		t.Errorf("command after rotation: %+v, %v", u, err)
	}
}
