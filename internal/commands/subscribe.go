package commands

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/pipebot/pipebot/internal/gitlab"
	"github.com/pipebot/pipebot/internal/notify"
	"github.com/pipebot/pipebot/internal/state"
)

// subscriber keeps channel subscriptions (the notify.Watcher).
type subscriber interface {
	Subscribe(ctx context.Context, req notify.SubscribeRequest) (state.Subscription, error)
	Unsubscribe(ctx context.Context, channel, project, group string) (state.Subscription, bool, error)
	ChannelSubscriptions(channel string) ([]state.Subscription, error)
}

var _ subscriber = (*notify.Watcher)(nil)

func (r *Router) subscribeCommands() []*Command {
	return []*Command{
		{
			Name: "subscribe", Args: "[project|group:<group>] [on:<events>] [ref:<globs>] [source:<list>] [user:<list>]",
			Summary: "Post this project's (or group's) pipeline events here, one living card per pipeline.",
			Examples: []string{"subscribe group/app", "subscribe group/app on:failed,fixed ref:main,release/*,!release/old",
				"subscribe group:acme/platform on:broken,fixed user:!renovate-bot"},
			Role: RoleOperator, MaxArgs: 1, Mutating: true,
			Options: []string{"group", "on", "ref", "source", "user"},
			Run:     r.subscribe,
		},
		{
			Name: "unsubscribe", Args: "[project|group:<group>]", Summary: "Stop this channel's subscription to a project or group.",
			Examples: []string{"unsubscribe group/app", "unsubscribe group:acme/platform"},
			Role:     RoleOperator, MaxArgs: 1, Mutating: true, Options: []string{"group"},
			NoLink: true, Run: r.unsubscribe,
		},
		{
			Name: "subscriptions", Summary: "This channel's subscriptions and their filters.",
			Examples: []string{"subscriptions"}, Role: RoleViewer,
			NoLink: true, Run: r.subscriptions,
		},
	}
}

// subTarget reads the project (a path, a GitLab link or the channel's
// default) or group: of a subscription command.
func (r *Router) subTarget(c *Call) (project, group string, err error) {
	if g := strings.Trim(c.Opt("group", ""), "/ "); g != "" {
		return "", g, nil
	}
	if a := c.Arg(0); a != "" {
		ref, ok := lexProjectRef(a)
		if !ok {
			return "", "", usageError(c.Cmd, "`%s` is not a project; name it `group/app`, a GitLab link, or `group:&lt;group&gt;`.", notify.Escape(a))
		}
		if err := r.checkHost(ref); err != nil {
			return "", "", err
		}
		if err := r.checkAllowed(c.Req.ChannelID, ref.Path); err != nil {
			return "", "", err
		}
		return ref.Path, "", nil
	}
	ch, _, err := r.deps.Store.Channel(c.Req.ChannelID)
	if err != nil {
		return "", "", fmt.Errorf("read channel settings: %w", err)
	}
	if ch.DefaultProject == "" {
		return "", "", usageError(c.Cmd, "Which project? Name it (`group/app`), a group (`group:acme`), or set this channel's default with `/ci channel project group/app`.")
	}
	c.Project = ch.DefaultProject
	return ch.DefaultProject, "", nil
}

func (r *Router) subs() (subscriber, error) {
	if r.deps.Subs == nil {
		return nil, userErrorf("Subscriptions are not available in this pipebot.")
	}
	return r.deps.Subs, nil
}

func (r *Router) subscribe(ctx context.Context, c *Call) (Reply, error) {
	subs, err := r.subs()
	if err != nil {
		return Reply{}, err
	}
	project, group, err := r.subTarget(c)
	if err != nil {
		return Reply{}, err
	}
	if project != "" {
		c.Project = project
	}
	if err := r.canRead(ctx, c, project, group, "subscribe this channel to it"); err != nil {
		return Reply{}, err
	}
	sub, err := subs.Subscribe(ctx, notify.SubscribeRequest{
		Channel: c.Req.ChannelID, Creator: c.Req.UserID, Project: project, Group: group,
		On: c.Opt("on", ""), Ref: c.Opt("ref", ""), Source: c.Opt("source", ""), User: c.Opt("user", ""),
	})
	var fe *notify.FilterError
	switch {
	case errors.As(err, &fe):
		return Reply{}, usageError(c.Cmd, "%s", fe.Msg)
	case errors.Is(err, notify.ErrNotInChannel):
		return Reply{}, userErrorf("I am not in this channel, so I could not post cards here. Invite me with `/invite @pipebot`, then run `/ci %s` again.", notify.Escape(c.Text))
	case err != nil:
		what := "project `" + notify.Escape(project) + "`"
		if group != "" {
			what = "group `" + notify.Escape(group) + "`"
		}
		if m := userMessage(err); m != "" {
			return Reply{}, userErrorf("I cannot subscribe to %s: %s", what, m)
		}
		return Reply{}, err
	}
	return Reply{InChannel: true, Message: TextReply(":bell: <@%s> subscribed this channel to %s.", c.Req.UserID, describeSub(sub)).Message}, nil
}

func (r *Router) unsubscribe(ctx context.Context, c *Call) (Reply, error) {
	subs, err := r.subs()
	if err != nil {
		return Reply{}, err
	}
	project, group, err := r.subTarget(c)
	if err != nil {
		return Reply{}, err
	}
	sub, found, err := subs.Unsubscribe(ctx, c.Req.ChannelID, project, group)
	if err != nil {
		return Reply{}, err
	}
	if !found {
		return Reply{}, userErrorf("This channel has no subscription to `%s`. `/ci subscriptions` lists them.", notify.Escape(project+group))
	}
	return Reply{InChannel: true, Message: TextReply(":no_bell: <@%s> unsubscribed this channel from %s.", c.Req.UserID, describeSub(sub)).Message}, nil
}

func (r *Router) subscriptions(_ context.Context, c *Call) (Reply, error) {
	subs, err := r.subs()
	if err != nil {
		return Reply{}, err
	}
	list, err := subs.ChannelSubscriptions(c.Req.ChannelID)
	if err != nil {
		return Reply{}, err
	}
	if len(list) == 0 {
		return TextReply("This channel has no subscriptions. Try `/ci subscribe group/app`."), nil
	}
	lines := []string{"*Subscriptions of this channel*"}
	for _, s := range list {
		lines = append(lines, "• "+describeSub(s))
	}
	return chunkedReply(lines), nil
}

// describeSub renders a subscription with its filters.
func describeSub(s state.Subscription) string {
	what := "`" + notify.Escape(s.Project) + "`"
	if s.Group != "" {
		what = "group `" + notify.Escape(s.Group) + "` (all its projects)"
	}
	on := s.On
	if len(on) == 0 {
		for _, e := range notify.DefaultEvents {
			on = append(on, string(e))
		}
	}
	parts := []string{what, "on `" + strings.Join(on, ",") + "`"}
	for _, f := range [][2]string{{"ref", strings.Join(s.Refs, ",")}, {"source", strings.Join(s.Sources, ",")}, {"user", strings.Join(s.Users, ",")}} {
		if f[1] != "" {
			parts = append(parts, f[0]+" `"+notify.Code(f[1])+"`")
		}
	}
	out := strings.Join(parts, " · ")
	if s.Paused {
		out += " — :pause_button: paused (" + notify.Escape(s.PausedReason) + "; subscribe again to resume)"
	}
	return out
}

// groupReader reads a group (subscribe group:).
type groupReader interface {
	Group(ctx context.Context, group string) (gitlab.Group, error)
}

var _ groupReader = (*gitlab.Client)(nil)

// canRead checks that a person acting as themselves can read the project
// or group they subscribe the channel to: pipebot's token must not route a
// private project's events into a channel for someone who cannot see it.
// With pipebot's own token the watcher's look-up is the check.
func (r *Router) canRead(ctx context.Context, c *Call, project, group, purpose string) error {
	if !c.Actor.Person() {
		return nil
	}
	who := notify.Escape(c.Actor.Username)
	if group != "" {
		gr, ok := c.GitLab.(groupReader)
		if !ok {
			return userErrorf("I can't check that you can see group `%s` in GitLab, so I won't subscribe to it.", notify.Escape(group))
		}
		if _, err := gr.Group(ctx, group); err != nil {
			if errors.Is(err, gitlab.ErrNotFound) || errors.Is(err, gitlab.ErrForbidden) {
				return userErrorf("You (@%s) can't see group `%s` in GitLab, so you can't %s.", who, notify.Escape(group), purpose)
			}
			return fmt.Errorf("check group %s as %s: %w", group, c.Actor, err)
		}
		return nil
	}
	if _, err := c.GitLab.Project(ctx, project); err != nil {
		if errors.Is(err, gitlab.ErrNotFound) || errors.Is(err, gitlab.ErrForbidden) {
			return userErrorf("You (@%s) can't see project `%s` in GitLab, so you can't %s.", who, notify.Escape(project), purpose)
		}
		return fmt.Errorf("check project %s as %s: %w", project, c.Actor, err)
	}
	// Reading the project is not reading its pipelines (a guest, or a
	// non-member of a public project without public pipelines).
	if _, err := c.GitLab.Pipelines(ctx, project, gitlab.ListPipelinesOptions{Limit: 1}); err != nil {
		if errors.Is(err, gitlab.ErrNotFound) || errors.Is(err, gitlab.ErrForbidden) {
			return userErrorf("You (@%s) can't see the pipelines of `%s` in GitLab, so you can't %s.", who, notify.Escape(project), purpose)
		}
		return fmt.Errorf("check pipelines of %s as %s: %w", project, c.Actor, err)
	}
	return nil
}
