package commands

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/pipebot/pipebot/internal/gitlab"
	"github.com/pipebot/pipebot/internal/identity"
	"github.com/pipebot/pipebot/internal/slackapp"
)

// currentUserAPI reads the owner of pipebot's GitLab token.
type currentUserAPI interface {
	CurrentUser(ctx context.Context) (gitlab.User, error)
}

var _ currentUserAPI = (*gitlab.Client)(nil)

// botIdentityTTL is how long the owner of pipebot's token is remembered:
// the Home tab names it on every publish, which must not cost a GitLab
// request each time.
const botIdentityTTL = 10 * time.Minute

// botIdentityRetry is how long a failed GET /user is not asked again, so a
// GitLab outage does not add a request to every Home publish.
const botIdentityRetry = time.Minute

// botIdentity is the IdentityFunc of PIPEBOT_IDENTITY=bot: everyone acts as
// pipebot's token, whose username GET /user names (cached).
type botIdentity struct {
	gl  currentUserAPI
	now func() time.Time

	mu      sync.Mutex
	user    string
	fetched time.Time
	failed  time.Time // last failed read; zero after a success
}

func (b *botIdentity) identity(ctx context.Context, _ string) (GitLabIdentity, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.user != "" && b.now().Sub(b.fetched) < botIdentityTTL {
		return GitLabIdentity{Kind: IdentityBot, Username: b.user}, nil
	}
	if b.gl == nil || (!b.failed.IsZero() && b.now().Sub(b.failed) < botIdentityRetry) {
		// An earlier answer is better than none.
		return GitLabIdentity{Kind: IdentityBot, Username: b.user}, nil
	}
	u, err := b.gl.CurrentUser(ctx)
	if err != nil {
		b.failed = b.now()
		return GitLabIdentity{Kind: IdentityBot, Username: b.user}, fmt.Errorf("read pipebot's gitlab user: %w", err)
	}
	b.user, b.fetched, b.failed = u.Username, b.now(), time.Time{}
	return GitLabIdentity{Kind: IdentityBot, Username: b.user}, nil
}

// identityOf says who user acts as in GitLab, for the App Home: without a
// team (a publish caused by the watcher) the user's one link is found.
func (r *Router) identityOf(ctx context.Context, team, user string) (GitLabIdentity, error) {
	if r.deps.Identity != nil {
		return r.deps.Identity(ctx, team, user)
	}
	if r.mode() == identity.ModeBot {
		return r.botID.identity(ctx, user)
	}
	a, _, err := r.actorOf(ctx, slackapp.Request{TeamID: team, UserID: user})
	var refused *identity.RefusedError
	switch {
	case err == nil && a.Kind == identity.KindLinked:
		return GitLabIdentity{Kind: IdentityLinked, Username: a.Username}, nil
	case err == nil && a.Kind == identity.KindSudo:
		return GitLabIdentity{Kind: IdentitySudo, Username: a.Username}, nil
	case errors.Is(err, identity.ErrNotLinked), errors.Is(err, identity.ErrLinkRevoked):
		return GitLabIdentity{Kind: IdentityNotLinked}, nil
	case errors.As(err, &refused):
		return GitLabIdentity{Kind: IdentityRefused, Reason: refused.Msg}, nil
	case err != nil:
		return GitLabIdentity{Kind: IdentityRefused, Reason: "pipebot could not tell who you are in GitLab just now."}, err
	}
	return GitLabIdentity{Kind: IdentityBot}, nil
}
