package commands

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"

	"github.com/pipebot/pipebot/internal/gitlab"
	"github.com/pipebot/pipebot/internal/identity"
	"github.com/pipebot/pipebot/internal/notify"
	"github.com/pipebot/pipebot/internal/slackapp"
)

// identities resolves who acts in GitLab for a Slack user (DESIGN §7).
type identities interface {
	Mode() identity.Mode
	Actor(ctx context.Context, team, user string) (identity.Actor, error)
	StartLogin(ctx context.Context, team, user, slackName string) (string, error)
	Logout(ctx context.Context, team, user string) (identity.LogoutResult, error)
}

var _ identities = (*identity.Service)(nil)

// mode is PIPEBOT_IDENTITY; bot without Deps.Identities.
func (r *Router) mode() identity.Mode {
	if r.deps.Identities == nil {
		return identity.ModeBot
	}
	return r.deps.Identities.Mode()
}

// actorOf resolves who acts in GitLab for the request's user. Without
// Deps.Identities every user acts as pipebot's token. In linked and sudo
// modes nothing falls back to pipebot's token: the error says why no one
// may act (identity.ErrNotLinked, a *identity.RefusedError…).
func (r *Router) actorOf(ctx context.Context, req slackapp.Request) (identity.Actor, gitlabAPI, error) {
	if r.deps.Identities == nil {
		return identity.Actor{Kind: identity.KindBot}, r.deps.GitLab, nil
	}
	a, err := r.deps.Identities.Actor(ctx, req.TeamID, req.UserID)
	if err != nil {
		return identity.Actor{}, nil, err
	}
	if a.Kind == identity.KindBot {
		// pipebot's token is the router's own client (the one tests and
		// metrics see), whichever client the service holds.
		return a, r.deps.GitLab, nil
	}
	return a, a.GitLab, nil
}

// bindIdentity gives the call the GitLab client of its user. A NoLink
// command runs without one when its user has none; any other command
// stops with the error.
func (r *Router) bindIdentity(ctx context.Context, call *Call) error {
	if call.Cmd.NoLink && r.mode() != identity.ModeBot {
		// Resolved only when a handler asks (whoami, channel project):
		// help or role commands cost no Slack or GitLab look-up in sudo mode.
		return nil
	}
	// sudo may ask Slack and GitLab who the user is: bounded like a command.
	ctx, cancel := context.WithTimeout(ctx, r.deps.Timeout)
	defer cancel()
	a, gl, err := r.actorOf(ctx, call.Req)
	if err != nil {
		return err
	}
	call.Actor, call.GitLab = a, gl
	return nil
}

// optionalIdentity is, for a NoLink command, the user's GitLab client if
// they have an identity: nil (and no error) when they have none.
func (r *Router) optionalIdentity(ctx context.Context, c *Call) (gitlabAPI, error) {
	if c.GitLab != nil {
		return c.GitLab, nil
	}
	a, gl, err := r.actorOf(ctx, c.Req)
	var refused *identity.RefusedError
	switch {
	case errors.Is(err, identity.ErrNotLinked), errors.Is(err, identity.ErrLinkRevoked), errors.As(err, &refused):
		return nil, nil
	case err != nil:
		return nil, err
	}
	c.Actor, c.GitLab = a, gl
	return gl, nil
}

// identityReply answers a command that could not run because no one may
// act for its user in GitLab, or false when err is not about identity.
func (r *Router) identityReply(ctx context.Context, req slackapp.Request, err error) (Reply, bool) {
	var refused *identity.RefusedError
	switch {
	case errors.Is(err, identity.ErrNotLinked):
		return r.connectReply(ctx, req, ":link: pipebot runs your commands as you in GitLab, so connect your GitLab account first (once); nothing ran."), true
	case errors.Is(err, identity.ErrLinkRevoked):
		return r.connectReply(ctx, req, ":link: GitLab no longer accepts your linked account (it was revoked or has expired), so I removed the link; connect it again. Nothing ran."), true
	case errors.As(err, &refused):
		return errorReply(refused.Msg, nil), true
	}
	return Reply{}, false
}

// refuseIdentity is identityReply for a dispatched command, whose refusal
// is also counted and audited.
func (r *Router) refuseIdentity(ctx context.Context, log zerolog.Logger, call *Call, err error) (Reply, bool) {
	reply, ok := r.identityReply(ctx, call.Req, err)
	if ok {
		r.observe(call.Cmd.Name, "no_identity")
		r.audit(log, call, identityRefusal(err))
	}
	return reply, ok
}

// connectReply is the private "Connect GitLab" answer: a button whose URL
// starts a login bound to this user.
func (r *Router) connectReply(ctx context.Context, req slackapp.Request, lead string) Reply {
	u, err := r.deps.Identities.StartLogin(ctx, req.TeamID, req.UserID, slackName(req))
	if err != nil {
		ref := newRef()
		r.log.Error().Err(err).Str("req_id", ref).Str("user", req.UserID).Msg("start login")
		return errorReply(fmt.Sprintf("%s I could not start a login; try `/ci login` again (ref `%s`).", lead, ref), nil)
	}
	sec := notify.Section(lead + " The link works for 10 minutes, once, and only for you.")
	btn := notify.LinkButton("identity_login", "Connect GitLab", u)
	btn.Style = slack.StylePrimary
	sec.Accessory = slack.NewAccessory(btn)
	return Reply{Message: notify.Message{Text: lead, Blocks: []slack.Block{sec}}}
}

func slackName(req slackapp.Request) string {
	if req.UserName != "" {
		return req.UserName
	}
	return req.UserID
}

// personNotFound rewords, for a person acting as themselves, what the
// handlers say about pipebot's own GitLab user: GitLab answered about the
// person (a 404 for a private project they cannot see, even when
// pipebot's token could), so the sentence names them.
func personNotFound(err error, a identity.Actor) error {
	if !a.Person() {
		return err
	}
	var ue *UserError
	if errors.As(err, &ue) {
		you := "your GitLab user @" + notify.Escape(a.Username)
		msg := strings.NewReplacer(
			"(or pipebot's GitLab token can't see it)", "(or you, @"+notify.Escape(a.Username)+", can't see it in GitLab)",
			"pipebot's GitLab user", you,
			"pipebot's token", you,
		).Replace(ue.Msg)
		return &UserError{Msg: msg, Usage: ue.Usage}
	}
	if errors.Is(err, gitlab.ErrNotFound) && userMessage(err) == notify.Escape(gitlab.UserMessage(err)) {
		return userErrorf("GitLab: not found, or you (@%s) can't see it.", notify.Escape(a.Username))
	}
	return err
}

// personUnauthorized: a person's token refused without a refresh failing
// (a revoked access token whose refresh was not tried) reads as a link
// problem, not as pipebot's token being wrong.
func personUnauthorized(err error, a identity.Actor) error {
	if a.Person() && errors.Is(err, gitlab.ErrUnauthorized) {
		return userErrorf("GitLab refused your credentials (@%s); if this goes on, run `/ci logout` and `/ci login`.", notify.Escape(a.Username))
	}
	return err
}

// identityRefusal is the audit result of a command refused for want of a
// GitLab identity.
func identityRefusal(err error) string {
	var refused *identity.RefusedError
	switch {
	case errors.Is(err, identity.ErrNotLinked):
		return "refused: no linked GitLab account"
	case errors.Is(err, identity.ErrLinkRevoked):
		return "refused: GitLab no longer accepts the linked account"
	case errors.As(err, &refused):
		return "refused: " + oneLine(refused.Msg)
	}
	return "refused"
}
