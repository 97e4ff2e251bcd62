package commands

import (
	"context"
	"fmt"
	"strings"

	"github.com/slack-go/slack"

	"github.com/pipebot/pipebot/internal/identity"
	"github.com/pipebot/pipebot/internal/notify"
)

func (r *Router) identityCommands() []*Command {
	return []*Command{
		{
			Name: "login", Aliases: []string{"link"}, Summary: "Link your own GitLab account, so your commands run as you in GitLab.",
			Examples: []string{"login"}, Role: RoleViewer, NoLink: true, Run: r.login,
		},
		{
			Name: "logout", Summary: "Unlink your GitLab account (pipebot's token for it is revoked at GitLab).",
			Examples: []string{"logout"}, Role: RoleViewer, NoLink: true, Mutating: true, Run: r.logout,
		},
		{
			Name: "whoami", Summary: "Who you are to pipebot: your role, and who you act as in GitLab.",
			Examples: []string{"whoami"}, Role: RoleViewer, NoLink: true, Run: r.whoami,
		},
	}
}

// botName is the GitLab user behind pipebot's token, "" when unknown.
func (r *Router) botName(ctx context.Context, user string) string {
	id, _ := r.botID.identity(ctx, user)
	return id.Username
}

func (r *Router) login(ctx context.Context, c *Call) (Reply, error) {
	switch r.mode() {
	case identity.ModeBot:
		who := "pipebot's own GitLab token"
		if n := r.botName(ctx, c.Req.UserID); n != "" {
			who += " (@" + notify.Escape(n) + ")"
		}
		return TextReply("No link is needed here: every command runs in GitLab as %s, and pipebot's roles decide who may do what.", who), nil
	case identity.ModeSudo:
		a, _, err := r.actorOf(ctx, c.Req)
		if err != nil {
			return Reply{}, err
		}
		return TextReply("No link is needed here: pipebot acts for you in GitLab as @%s, the GitLab user with your Slack email address, with that user's permissions.", notify.Escape(a.Username)), nil
	}
	lead := ":link: Connect your GitLab account: your commands then run as you in GitLab, with your own permissions."
	if a, _, err := r.actorOf(ctx, c.Req); err == nil && a.Kind == identity.KindLinked {
		lead = fmt.Sprintf(":link: You are linked to GitLab as @%s. To link another account instead, connect it here.", notify.Escape(a.Username))
	}
	return r.connectReply(ctx, c.Req, lead), nil
}

func (r *Router) logout(ctx context.Context, c *Call) (Reply, error) {
	if r.mode() != identity.ModeLinked {
		return TextReply("There is no GitLab link to remove: in this pipebot (identity mode `%s`) no one links an account.", r.mode()), nil
	}
	res, err := r.deps.Identities.Logout(ctx, c.Req.TeamID, c.Req.UserID)
	if err != nil {
		return Reply{}, fmt.Errorf("logout: %w", err)
	}
	switch {
	case !res.Linked:
		return TextReply("You have no linked GitLab account."), nil
	case res.RevokeErr != nil:
		r.log.Warn().Err(res.RevokeErr).Str("user", c.Req.UserID).Msg("revoke at gitlab")
		return TextReply(":warning: I removed your link to GitLab @%s, but GitLab could not be reached to revoke pipebot's token: revoke pipebot yourself in GitLab under *Edit profile › Applications*.", notify.Escape(res.Username)), nil
	}
	return TextReply("Unlinked GitLab @%s, and GitLab revoked pipebot's token for it. `/ci login` links an account again.", notify.Escape(res.Username)), nil
}

func (r *Router) whoami(ctx context.Context, c *Call) (Reply, error) {
	lines := []string{
		fmt.Sprintf("*Slack:* <@%s>", c.Req.UserID),
		fmt.Sprintf("*pipebot role:* %s", c.Role),
	}
	// What the App Home says: one reading of who acts for the user.
	id, err := r.identityOf(ctx, c.Req.TeamID, c.Req.UserID)
	if err != nil && r.mode() != identity.ModeBot {
		return Reply{}, fmt.Errorf("whoami: %w", err)
	}
	var btn *slack.ButtonBlockElement
	switch id.Kind {
	case IdentityBot:
		// Without the name of pipebot's GitLab user when GET /user failed.
		who := "pipebot's token"
		if id.Username != "" {
			who += " (@" + notify.Escape(id.Username) + ")"
		}
		lines = append(lines, "*GitLab:* you act as "+who+" (identity mode `bot`)")
	case IdentityLinked:
		lines = append(lines, fmt.Sprintf("*GitLab:* linked @%s: your commands run as you", notify.Escape(id.Username)))
	case IdentitySudo:
		lines = append(lines, fmt.Sprintf("*GitLab:* sudo @%s: pipebot acts as you (found by your Slack email)", notify.Escape(id.Username)))
	case IdentityNotLinked:
		lines = append(lines, "*GitLab:* not linked: connect your account to run commands (`/ci login`)")
		btn = notify.Button("identity_login", "Connect GitLab", "login")
	case IdentityRefused:
		lines = append(lines, "*GitLab:* no one: "+id.Reason)
	}
	text := strings.Join(lines, "\n")
	sec := notify.Section(text)
	if btn != nil {
		sec.Accessory = slack.NewAccessory(btn)
	}
	return Reply{Message: notify.Message{Text: text, Blocks: []slack.Block{sec}}}, nil
}
