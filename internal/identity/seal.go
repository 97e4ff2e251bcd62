package identity

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/pipebot/pipebot/internal/state"
)

// KeySize is the length of PIPEBOT_SECRET_KEY: AES-256.
const KeySize = 32

// sealVersion is the first byte of every sealed value, so that another
// format can be told apart later.
const sealVersion = 1

// ErrWrongKey: a sealed value does not open with the key (another key
// sealed it, or it was altered).
var ErrWrongKey = errors.New("identity: sealed value does not open with this key")

// ParseKey reads a key as PIPEBOT_SECRET_KEY holds it: 32 bytes in
// standard base64 (`openssl rand -base64 32`). The error never shows the
// value.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, errors.New("not standard base64 (make one with: openssl rand -base64 32)")
	}
	if len(b) != KeySize {
		return nil, fmt.Errorf("decodes to %d bytes, want %d (make one with: openssl rand -base64 32)", len(b), KeySize)
	}
	return b, nil
}

// Sealer encrypts and authenticates stored secrets with AES-256-GCM, a
// random nonce per value. Each value is bound to where it is stored (the
// additional data names the record and field), so a sealed token copied
// into another user's record does not open there.
type Sealer struct {
	cur, prev cipher.AEAD
}

// NewSealer makes a Sealer from the current key and, for rotation, the
// previous one (nil when there is none).
func NewSealer(key, previous []byte) (*Sealer, error) {
	cur, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	s := &Sealer{cur: cur}
	if previous != nil {
		if s.prev, err = newAEAD(previous); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("identity: key is %d bytes, want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	return cipher.NewGCM(block)
}

// Seal encrypts plain for the place named by aad.
func (s *Sealer) Seal(plain, aad []byte) ([]byte, error) {
	ns := s.cur.NonceSize()
	out := make([]byte, 1+ns, 1+ns+len(plain)+s.cur.Overhead())
	out[0] = sealVersion
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("identity: nonce: %w", err)
	}
	return s.cur.Seal(out, out[1:], plain, aad), nil
}

// Open decrypts a value sealed with the current key; ErrWrongKey otherwise.
func (s *Sealer) Open(sealed, aad []byte) ([]byte, error) {
	return open(s.cur, sealed, aad)
}

// openPrevious decrypts a value sealed with the previous key.
func (s *Sealer) openPrevious(sealed, aad []byte) ([]byte, error) {
	if s.prev == nil {
		return nil, ErrWrongKey
	}
	return open(s.prev, sealed, aad)
}

func open(a cipher.AEAD, sealed, aad []byte) ([]byte, error) {
	ns := a.NonceSize()
	if len(sealed) < 1+ns+a.Overhead() || sealed[0] != sealVersion {
		return nil, ErrWrongKey
	}
	plain, err := a.Open(nil, sealed[1:1+ns], sealed[1+ns:], aad)
	if err != nil {
		return nil, ErrWrongKey
	}
	return plain, nil
}

// The additional data of each sealed field.
func accessAAD(team, user string) []byte {
	return []byte("pipebot link access\x00" + team + "\x00" + user)
}
func refreshAAD(team, user string) []byte {
	return []byte("pipebot link refresh\x00" + team + "\x00" + user)
}
func verifierAAD(stateHash string) []byte { return []byte("pipebot pending verifier\x00" + stateHash) }

// sealTokens seals a link's access and refresh tokens into l, each bound
// to the link of team/user.
func (s *Sealer) sealTokens(l *state.Link, team, user string, access, refresh []byte) error {
	a, err := s.Seal(access, accessAAD(team, user))
	if err != nil {
		return err
	}
	r, err := s.Seal(refresh, refreshAAD(team, user))
	if err != nil {
		return err
	}
	l.AccessToken, l.RefreshToken = a, r
	return nil
}

// KeyMismatchError: stored links that the key cannot open, and the
// previous key (if any) cannot either. serve stops on it rather than
// silently dropping every link over a typo in the key.
type KeyMismatchError struct{ Unreadable, Total int }

func (e *KeyMismatchError) Error() string {
	return fmt.Sprintf("the key opens none of %d of the %d stored GitLab links", e.Unreadable, e.Total)
}

// CheckKey opens every stored link with the current key. Links that only
// the previous key opens are sealed again with the current one (rotation);
// when any link opens with neither, it returns a *KeyMismatchError and
// changes nothing. Pending logins that do not open are dropped: they last
// ten minutes and a new /ci login replaces them. It reports how many links
// were sealed again.
func (s *Service) CheckKey(ctx context.Context) (rekeyed int, err error) {
	if s.cfg.Sealer == nil {
		return 0, nil
	}
	links, err := s.cfg.Store.Links()
	if err != nil {
		return 0, err
	}
	sl := s.cfg.Sealer
	var old []state.Link
	bad := 0
	for _, l := range links {
		_, e1 := sl.Open(l.AccessToken, accessAAD(l.Team, l.User))
		_, e2 := sl.Open(l.RefreshToken, refreshAAD(l.Team, l.User))
		if e1 == nil && e2 == nil {
			continue
		}
		_, p1 := sl.openPrevious(l.AccessToken, accessAAD(l.Team, l.User))
		_, p2 := sl.openPrevious(l.RefreshToken, refreshAAD(l.Team, l.User))
		if p1 != nil || p2 != nil {
			bad++
			continue
		}
		old = append(old, l)
	}
	if bad > 0 {
		return 0, &KeyMismatchError{Unreadable: bad, Total: len(links)}
	}
	for _, l := range old {
		unlock, err := s.cfg.Store.LockLink(ctx, l.Team, l.User)
		if err != nil {
			return rekeyed, err
		}
		_, err = s.cfg.Store.WithLink(l.Team, l.User, func(cur *state.Link, found bool) (state.RecordOp, error) {
			if !found {
				return state.Keep, nil
			}
			a, err := sl.openPrevious(cur.AccessToken, accessAAD(cur.Team, cur.User))
			if err != nil {
				return state.Keep, nil // sealed anew meanwhile
			}
			r, err := sl.openPrevious(cur.RefreshToken, refreshAAD(cur.Team, cur.User))
			if err != nil {
				return state.Keep, nil
			}
			if err := sl.sealTokens(cur, cur.Team, cur.User, a, r); err != nil {
				return state.Keep, err
			}
			return state.Save, nil
		})
		unlock()
		if err != nil {
			return rekeyed, err
		}
		rekeyed++
	}
	pending, err := s.cfg.Store.PendingLogins()
	if err != nil {
		return rekeyed, err
	}
	for _, p := range pending {
		if _, err := sl.Open(p.Verifier, verifierAAD(p.StateHash)); err == nil {
			continue
		}
		if err := s.cfg.Store.WithPendingLogin(p.StateHash, func(*state.PendingLogin, bool) (state.RecordOp, error) {
			return state.Delete, nil
		}); err != nil {
			return rekeyed, err
		}
	}
	return rekeyed, nil
}
