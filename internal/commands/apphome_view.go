package commands

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/slack-go/slack"

	"github.com/pipebot/pipebot/internal/gitlab"
	"github.com/pipebot/pipebot/internal/notify"
	"github.com/pipebot/pipebot/internal/state"
)

// maxHomeBlocks is Slack's limit on a Home tab view's blocks
// (https://docs.slack.dev/reference/views/home-tab-views).
const maxHomeBlocks = 100

// homeRefreshAction is the action_id of the Home's Refresh button, the only
// Home button that is not a command.
const homeRefreshAction = "home_refresh"

// IdentityKind says how a Slack user acts in GitLab (DESIGN §7).
type IdentityKind int

// The identity kinds the Home tab shows.
const (
	// IdentityBot: every call uses pipebot's own token (PIPEBOT_IDENTITY=bot).
	IdentityBot IdentityKind = iota
	// IdentityLinked: the user's own linked GitLab account.
	IdentityLinked
	// IdentityNotLinked: a mode that needs a link the user has not made.
	IdentityNotLinked
	// IdentitySudo: pipebot's admin token acting as the user.
	IdentitySudo
	// IdentityRefused: no one may act for the user (sudo found no GitLab
	// user for them, say); Reason says why.
	IdentityRefused
)

// GitLabIdentity is who a Slack user acts as in GitLab.
type GitLabIdentity struct {
	Kind IdentityKind
	// Username is the GitLab username (without @); for IdentityBot the
	// owner of pipebot's token, "" when unknown.
	Username string
	// ConnectURL, for IdentityNotLinked, is where a "Connect GitLab"
	// button goes; "" makes the button run `login` instead.
	ConnectURL string
	// Reason, for IdentityRefused, is the sentence saying why.
	Reason string
}

// IdentityFunc says who a Slack user of a team acts as in GitLab
// (Deps.Identity overrides the router's own answer in tests).
type IdentityFunc func(ctx context.Context, team, slackUser string) (GitLabIdentity, error)

// homeInput is everything a Home tab shows.
type homeInput struct {
	User      string
	Role      Role
	Identity  GitLabIdentity
	Pipelines []state.HomePipeline
	Subs      []state.Subscription
	Notice    string // mrkdwn, pipebot's own text
	Now       time.Time
}

// homeView renders the App Home of DESIGN §3: role, GitLab identity, the
// user's recent pipelines with live status, and the workspace's
// subscriptions, within Slack's 100 blocks.
func homeView(in homeInput) slack.HomeTabViewRequest {
	head := []slack.Block{slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, "pipebot", false, false))}
	if in.Notice != "" {
		head = append(head, notify.Context(in.Notice))
	}
	head = append(head,
		notify.Section(roleLine(in.Role)),
		identityBlock(in.Identity),
		slack.NewActionBlock("home_actions", notify.Button(homeRefreshAction, "Refresh", "")),
		slack.NewDividerBlock(),
		notify.Section("*Your recent pipelines started from Slack*"),
	)
	subsHead := []slack.Block{slack.NewDividerBlock(), notify.Section("*Subscriptions in this workspace*")}
	// Pipelines are bounded by the store; subscriptions are not. Each list
	// gets what is left, keeping one block for at least the start of the
	// subscriptions, and only what is shown is rendered.
	room := maxHomeBlocks - len(head) - len(subsHead)
	pipes := fitList(len(in.Pipelines), room-1, "pipelines", func(i int) slack.Block { return homePipelineBlock(in.Pipelines[i], in.Now) },
		"None yet. Pipelines you start with `/ci run`, the run form, `/ci trigger run` or a Retry button show up here.")
	subs := fitList(len(in.Subs), room-len(pipes), "subscriptions", func(i int) slack.Block {
		return notify.Section("<#" + in.Subs[i].Channel + "> · " + describeSub(in.Subs[i]))
	}, "No channel subscribes to pipeline events yet: `/ci subscribe group/app` in a channel.")
	blocks := append(append(append(head, pipes...), subsHead...), subs...)
	return slack.HomeTabViewRequest{Type: slack.VTHomeTab, Blocks: slack.Blocks{BlockSet: blocks}}
}

// fitList renders at most room blocks of a list of n items: when they do
// not all fit, the last block says how many more there are; an empty list
// is the empty text.
func fitList(n, room int, what string, render func(i int) slack.Block, empty string) []slack.Block {
	if n == 0 {
		return []slack.Block{notify.Context(empty)}
	}
	if room <= 0 {
		return nil
	}
	shown := n
	if n > room {
		shown = room - 1
	}
	out := make([]slack.Block, 0, shown+1)
	for i := range shown {
		out = append(out, render(i))
	}
	if shown < n {
		out = append(out, notify.Context(fmt.Sprintf("…and %d more %s.", n-shown, what)))
	}
	return out
}

func roleLine(r Role) string {
	what := map[Role]string{
		RoleViewer:   "you can list and inspect pipelines and jobs; an admin can make you an operator to run them",
		RoleOperator: "you can run, retry and cancel pipelines and jobs",
		RoleAdmin:    "you can do everything, including roles, variables and schedules",
	}[r]
	return fmt.Sprintf("*Your role:* %s — %s.", r, what)
}

func identityBlock(id GitLabIdentity) slack.Block {
	at := ""
	if id.Username != "" {
		at = " (@" + notify.Escape(id.Username) + ")"
	}
	switch id.Kind {
	case IdentityLinked:
		return notify.Section("*In GitLab* you act as yourself: linked as @" + notify.Escape(id.Username) + ".")
	case IdentitySudo:
		return notify.Section("*In GitLab* pipebot acts as you" + at + ".")
	case IdentityRefused:
		return notify.Section("*In GitLab* no one acts for you: " + id.Reason)
	case IdentityNotLinked:
		s := notify.Section("*In GitLab* you are not linked yet: connect your GitLab account to run commands.")
		b := notify.Button("identity_login", "Connect GitLab", "login")
		if id.ConnectURL != "" {
			b = notify.LinkButton("identity_login", "Connect GitLab", id.ConnectURL)
		}
		s.Accessory = slack.NewAccessory(b)
		return s
	}
	return notify.Section("*In GitLab* you act as pipebot's token" + at + ".")
}

// homePipelineBlock is one pipeline: status, #id linking to GitLab,
// project, ref and age, with the Retry or Cancel button its state allows,
// carrying the same command as the pipeline card's.
func homePipelineBlock(p state.HomePipeline, now time.Time) slack.Block {
	st := gitlab.Status(p.Status)
	text := fmt.Sprintf("%s *%s* %s · `%s` · ref `%s`",
		notify.StatusEmoji(st), notify.Link(p.WebURL, "#"+strconv.FormatInt(p.PipelineID, 10)), notify.Escape(notify.StatusWord(st)),
		notify.Code(p.Project), notify.Code(p.Ref))
	if ago := notify.Ago(now, p.StartedAt); ago != "" {
		text += " · started " + ago
	}
	s := notify.Section(text)
	ref := notify.ProjectPipelineRef(p.Project, p.PipelineID)
	switch {
	case st == gitlab.StatusFailed || st == gitlab.StatusCanceled:
		s.Accessory = slack.NewAccessory(notify.Button("pipeline_retry", "Retry", "pipeline retry "+ref))
	case st.Active() || st == gitlab.StatusManual:
		s.Accessory = slack.NewAccessory(notify.Button("pipeline_cancel", "Cancel", "pipeline cancel "+ref))
	}
	return s
}
