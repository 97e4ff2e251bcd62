package commands

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pipebot/pipebot/internal/gitlab"
)

// userAPI answers GET /user from a script and counts the reads.
type userAPI struct {
	reads int
	err   error
}

func (u *userAPI) CurrentUser(context.Context) (gitlab.User, error) {
	u.reads++
	if u.err != nil {
		return gitlab.User{}, u.err
	}
	return gitlab.User{Username: "pipebot"}, nil
}

func TestBotIdentityIsCachedAndAFailureIsNotRetriedAtOnce(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	api := &userAPI{}
	b := &botIdentity{gl: api, now: func() time.Time { return now }}
	ctx := context.Background()
	steps := []struct {
		name      string
		advance   time.Duration
		err       error
		wantUser  string
		wantReads int
		wantErr   bool
	}{
		{"first read", 0, nil, "pipebot", 1, false},
		{"cached", 5 * time.Minute, nil, "pipebot", 1, false},
		{"expired, GitLab down: the old name", 6 * time.Minute, errors.New("502"), "pipebot", 2, true},
		{"soon after the failure: not asked", 30 * time.Second, errors.New("502"), "pipebot", 2, false},
		{"a minute later: asked again", time.Minute, nil, "pipebot", 3, false},
	}
	for _, s := range steps {
		now = now.Add(s.advance)
		api.err = s.err
		id, err := b.identity(ctx, "U1")
		if id.Kind != IdentityBot || id.Username != s.wantUser || api.reads != s.wantReads || (err != nil) != s.wantErr {
			t.Errorf("%s: identity %+v, err %v, reads %d; want %q, %d reads, error %v", s.name, id, err, api.reads, s.wantUser, s.wantReads, s.wantErr)
		}
	}
}
