package commands

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/pipebot/pipebot/internal/gitlab"
	"github.com/pipebot/pipebot/internal/notify"
	"github.com/pipebot/pipebot/internal/state"
)

func (r *Router) adminCommands() []*Command {
	return []*Command{
		{
			Name: "role grant", Args: "<@user> <viewer|operator|admin>", Summary: "Give a Slack user a role.",
			Examples: []string{"role grant <@U024BE7LH> operator"},
			Role:     RoleAdmin, MinArgs: 2, MaxArgs: 2, Mutating: true, NoLink: true, Run: r.roleGrant,
		},
		{
			Name: "role revoke", Args: "<@user>", Summary: "Take a user's role away (back to the default role).",
			Examples: []string{"role revoke <@U024BE7LH>"},
			Role:     RoleAdmin, MinArgs: 1, MaxArgs: 1, Mutating: true, NoLink: true, Run: r.roleRevoke,
		},
		{
			Name: "role list", Aliases: []string{"roles"}, Summary: "Who has which role.",
			Examples: []string{"role list"}, Role: RoleAdmin, NoLink: true, Run: r.roleList,
		},
		{
			Name: "channel project", Args: "<project>", Summary: "Set this channel's default project.",
			Examples: []string{"channel project group/app"},
			Role:     RoleAdmin, MinArgs: 1, MaxArgs: 1, Mutating: true, NoLink: true, Run: r.channelProject,
		},
		{
			Name: "channel restrict", Args: "<project…> | none", Summary: "Limit the projects this channel may act on (none lifts it).",
			Examples: []string{"channel restrict group/app group/api", "channel restrict none"},
			Role:     RoleAdmin, MinArgs: 1, MaxArgs: 20, Mutating: true, NoLink: true, Run: r.channelRestrict,
		},
		{
			Name: "channel show", Aliases: []string{"channel"}, Summary: "Show this channel's settings.",
			Examples: []string{"channel show"}, Role: RoleViewer, NoLink: true, Run: r.channelShow,
		},
		{
			Name: "audit", Args: "[limit:<n>]", Summary: "Who did what, when (newest first).",
			Examples: []string{"audit", "audit limit:50"}, Role: RoleAdmin, Options: []string{"limit"}, NoLink: true, Run: r.auditList,
		},
		{
			Name: "dismiss", Summary: "Close a prompt.", Examples: []string{"dismiss"}, Role: RoleViewer,
			NoLink: true, Run: func(context.Context, *Call) (Reply, error) { return Reply{DeleteOriginal: true}, nil },
		},
	}
}

func (r *Router) roleGrant(_ context.Context, c *Call) (Reply, error) {
	user, ok := lexUserID(c.Arg(0))
	if !ok {
		return Reply{}, usageError(c.Cmd, "`%s` is not a Slack user; mention them, like `@alice`.", notify.Escape(c.Arg(0)))
	}
	role, err := ParseRole(c.Arg(1))
	if err != nil {
		return Reply{}, usageError(c.Cmd, "`%s` is not a role: use viewer, operator or admin.", notify.Escape(c.Arg(1)))
	}
	if slices.Contains(r.deps.Admins, user) && role != RoleAdmin {
		return Reply{}, userErrorf("<@%s> is an admin through PIPEBOT_ADMINS; change that setting to lower their role.", user)
	}
	if err := r.deps.Store.SetRole(user, role.String()); err != nil {
		return Reply{}, fmt.Errorf("grant role: %w", err)
	}
	return TextReply("<@%s> is now %s %s.", user, article(role), role), nil
}

func article(r Role) string {
	if r == RoleOperator || r == RoleAdmin {
		return "an"
	}
	return "a"
}

func (r *Router) roleRevoke(_ context.Context, c *Call) (Reply, error) {
	user, ok := lexUserID(c.Arg(0))
	if !ok {
		return Reply{}, usageError(c.Cmd, "`%s` is not a Slack user; mention them, like `@alice`.", notify.Escape(c.Arg(0)))
	}
	if slices.Contains(r.deps.Admins, user) {
		return Reply{}, userErrorf("<@%s> is an admin through PIPEBOT_ADMINS; change that setting to revoke it.", user)
	}
	existed, err := r.deps.Store.DeleteRole(user)
	if err != nil {
		return Reply{}, fmt.Errorf("revoke role: %w", err)
	}
	if !existed {
		return TextReply("<@%s> had no role of their own; they are %s %s (the default).", user, article(r.deps.DefaultRole), r.deps.DefaultRole), nil
	}
	return TextReply("<@%s> is back to the default role, %s.", user, r.deps.DefaultRole), nil
}

func (r *Router) roleList(_ context.Context, _ *Call) (Reply, error) {
	roles, err := r.deps.Store.Roles()
	if err != nil {
		return Reply{}, fmt.Errorf("list roles: %w", err)
	}
	lines := []string{"*Roles*"}
	for _, a := range r.deps.Admins {
		lines = append(lines, fmt.Sprintf("• <@%s> admin (PIPEBOT_ADMINS)", a))
	}
	users := make([]string, 0, len(roles))
	for u := range roles {
		if !slices.Contains(r.deps.Admins, u) {
			users = append(users, u)
		}
	}
	slices.Sort(users)
	for _, u := range users {
		lines = append(lines, fmt.Sprintf("• <@%s> %s", u, notify.Escape(roles[u])))
	}
	lines = append(lines, fmt.Sprintf("Everyone else: %s.", r.deps.DefaultRole))
	return TextReply("%s", strings.Join(lines, "\n")), nil
}

func (r *Router) channelProject(ctx context.Context, c *Call) (Reply, error) {
	ref, ok := lexProjectRef(c.Arg(0))
	if !ok {
		return Reply{}, usageError(c.Cmd, "`%s` is not a project path or GitLab link.", notify.Escape(c.Arg(0)))
	}
	if err := r.checkHost(ref); err != nil {
		return Reply{}, err
	}
	proj, err := r.checkedProject(ctx, c, ref.Path)
	if err != nil {
		return Reply{}, err
	}
	c.Project = proj.Path
	if _, err := r.deps.Store.UpdateChannel(c.Req.ChannelID, func(ch *state.Channel) error {
		ch.ID = c.Req.ChannelID
		ch.DefaultProject = proj.Path
		return nil
	}); err != nil {
		return Reply{}, fmt.Errorf("save channel project: %w", err)
	}
	name := notify.Escape(proj.Path)
	if proj.WebURL != "" {
		name = notify.Link(proj.WebURL, proj.Path)
	}
	return Reply{InChannel: true, Message: TextReply("This channel's default project is now %s: commands here may leave the project out.", name).Message}, nil
}

func (r *Router) channelRestrict(ctx context.Context, c *Call) (Reply, error) {
	var projects []string
	if !(len(c.Args) == 1 && strings.EqualFold(c.Args[0], "none")) {
		for _, a := range c.Args {
			ref, ok := lexProjectRef(a)
			if !ok {
				return Reply{}, usageError(c.Cmd, "`%s` is not a project path or GitLab link.", notify.Escape(truncateWord(a)))
			}
			if err := r.checkHost(ref); err != nil {
				return Reply{}, err
			}
			proj, err := r.checkedProject(ctx, c, ref.Path)
			if err != nil {
				return Reply{}, err
			}
			if !slices.Contains(projects, proj.Path) {
				projects = append(projects, proj.Path)
			}
		}
	}
	if _, err := r.deps.Store.UpdateChannel(c.Req.ChannelID, func(ch *state.Channel) error {
		ch.AllowedProjects = projects
		return nil
	}); err != nil {
		return Reply{}, fmt.Errorf("save channel restriction: %w", err)
	}
	if len(projects) == 0 {
		return Reply{InChannel: true, Message: TextReply("This channel may act on any project pipebot can see.").Message}, nil
	}
	return Reply{InChannel: true, Message: TextReply("This channel may now act only on %s.", notify.Escape(strings.Join(projects, ", "))).Message}, nil
}

func (r *Router) channelShow(_ context.Context, c *Call) (Reply, error) {
	ch, _, err := r.deps.Store.Channel(c.Req.ChannelID)
	if err != nil {
		return Reply{}, fmt.Errorf("read channel: %w", err)
	}
	text := "This channel has no default project. An admin can set one with `/ci channel project group/app`."
	if ch.DefaultProject != "" {
		text = fmt.Sprintf("This channel's default project is %s.", notify.Escape(ch.DefaultProject))
	}
	if len(ch.AllowedProjects) > 0 {
		text += fmt.Sprintf(" It may act only on %s.", notify.Escape(strings.Join(ch.AllowedProjects, ", ")))
	}
	return TextReply("%s", text), nil
}

func (r *Router) auditList(_ context.Context, c *Call) (Reply, error) {
	limit, err := c.IntOpt("limit", 20, 200)
	if err != nil {
		return Reply{}, err
	}
	entries, err := r.deps.Store.Audit(limit)
	if err != nil {
		return Reply{}, fmt.Errorf("read audit log: %w", err)
	}
	if len(entries) == 0 {
		return TextReply("The audit log is empty."), nil
	}
	lines := []string{"*Audit log* (newest first)"}
	for _, e := range entries {
		line := fmt.Sprintf("• %s <@%s> in <#%s>: `%s`", e.Time.UTC().Format("2006-01-02 15:04:05Z"), e.User, e.Channel, notify.Escape(e.Command))
		if e.Project != "" {
			line += " on " + notify.Escape(e.Project)
		}
		if strings.HasPrefix(e.GitLab, "linked ") || strings.HasPrefix(e.GitLab, "sudo ") {
			line += " as " + notify.Escape(e.GitLab)
		}
		line += " → " + notify.Escape(e.Result)
		lines = append(lines, line)
	}
	return chunkedReply(lines), nil
}

// chunkedReply puts lines into as many section blocks as Slack's 3000
// character limit per block needs.
func chunkedReply(lines []string) Reply {
	var msg notify.Message
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			msg.Blocks = append(msg.Blocks, notify.Section(cur.String()))
			cur.Reset()
		}
	}
	for _, l := range lines {
		if cur.Len()+len(l)+1 > 2900 {
			flush()
		}
		if len(msg.Blocks) >= 45 {
			break
		}
		if cur.Len() > 0 {
			cur.WriteByte('\n')
		}
		cur.WriteString(l)
	}
	flush()
	msg.Text = strings.Join(lines, "\n")
	if len(msg.Text) > 3000 {
		msg.Text = msg.Text[:3000]
	}
	return Reply{Message: msg}
}

// checkedProject is a project an admin names for the channel, checked in
// GitLab with their identity. These commands are about pipebot itself and
// need no link: without an identity the path is kept as typed, unchecked
// (nothing falls back to pipebot's token).
func (r *Router) checkedProject(ctx context.Context, c *Call, path string) (gitlab.Project, error) {
	gl, err := r.optionalIdentity(ctx, c)
	if err != nil {
		return gitlab.Project{}, err
	}
	if gl == nil {
		return gitlab.Project{Path: path}, nil
	}
	proj, err := r.project(ctx, gl, path)
	if err != nil {
		return gitlab.Project{}, personNotFound(err, c.Actor)
	}
	return proj, nil
}
