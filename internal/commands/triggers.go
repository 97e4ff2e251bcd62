package commands

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/pipebot/pipebot/internal/gitlab"
	"github.com/pipebot/pipebot/internal/notify"
)

// triggerAPI is what the trigger commands ask GitLab.
type triggerAPI interface {
	Triggers(ctx context.Context, project string) ([]gitlab.Trigger, error)
	CreateTrigger(ctx context.Context, project, description string) (gitlab.Trigger, error)
	DeleteTrigger(ctx context.Context, project string, id int64) error
	TriggerPipeline(ctx context.Context, project string, token gitlab.Secret, ref string, vars []gitlab.Variable, inputs []gitlab.Input) (gitlab.Pipeline, error)
}

func (r *Router) triggerCommands() []*Command {
	return []*Command{
		{
			Name: "trigger list", Aliases: []string{"triggers"}, Args: "[project]",
			Summary:  "Trigger tokens of a project; tokens show only their last 4 characters.",
			Examples: []string{"trigger list group/app", "triggers"},
			Role:     RoleOperator, Project: true, Run: r.triggerList,
		},
		{
			Name: "trigger create", Args: "[project] <description>",
			Summary:  "Create a trigger token; the token is shown to you alone.",
			Examples: []string{`trigger create group/app "nightly deploy"`},
			Role:     RoleAdmin, Project: true, MinArgs: 1, MaxArgs: 1, Mutating: true, Run: r.triggerCreate,
		},
		{
			Name: "trigger delete", Args: "[project] <id>", Summary: "Delete a trigger token (asks first).",
			Examples: []string{"trigger delete group/app 10"},
			Role:     RoleAdmin, Project: true, MinArgs: 1, MaxArgs: 1, Mutating: true,
			Confirm: func(c *Call) string {
				return fmt.Sprintf("Delete trigger #%s of %s? Anything that uses its token will stop working.", notify.Escape(c.Arg(0)), notify.Escape(c.Project))
			},
			Run: r.triggerDelete,
		},
		{
			Name: "trigger run", Args: "[project] <id|description> <ref> [KEY=value…] [input:NAME=value…]",
			Summary: "Run a pipeline with a trigger token and watch it here.",
			Examples: []string{"trigger run group/app 10 main", `trigger run group/app "nightly deploy" main DEPLOY_ZONE=us-west1`,
				"trigger run group/app 10 main input:environment=production"},
			Role: RoleOperator, Project: true, MinArgs: 2, MaxArgs: 2, Vars: true, Inputs: true, Mutating: true, Run: r.triggerRun,
		},
	}
}

func (r *Router) triggerList(ctx context.Context, c *Call) (Reply, error) {
	ts, err := c.GitLab.Triggers(ctx, c.Project)
	if err != nil {
		return Reply{}, notFound(err, "the project %s", c.Project)
	}
	if len(ts) == 0 {
		return TextReply("%s has no trigger tokens. An admin can make one with `/ci trigger create %s \"description\"`.",
			notify.Code(c.Project), notify.Code(c.Project)), nil
	}
	lines := []string{fmt.Sprintf("*Trigger tokens of %s*", notify.Escape(c.Project))}
	for _, t := range ts {
		// pipebot shows the last 4 characters of a token it holds whole;
		// GitLab gives other users' tokens as their first 4 characters.
		shown := "…" + t.Token.Tail(gitlab.ShortTokenLen)
		if !t.FullToken() {
			shown = t.Token.Tail(gitlab.ShortTokenLen) + "…"
		}
		line := fmt.Sprintf("• #%d %s · token `%s`", t.ID, notify.Code(describe(t.Description)), notify.Code(shown))
		if t.Owner.Username != "" {
			line += " · owner " + notify.Escape(t.Owner.Username)
		}
		if !t.FullToken() {
			line += " · _not usable by pipebot (another user owns it)_"
		}
		if t.LastUsed != nil {
			line += " · last used " + notify.Ago(r.deps.Now(), *t.LastUsed)
		}
		lines = append(lines, line)
	}
	return chunkedReply(lines), nil
}

func describe(s string) string {
	if strings.TrimSpace(s) == "" {
		return "(no description)"
	}
	return "“" + s + "”"
}

func (r *Router) triggerCreate(ctx context.Context, c *Call) (Reply, error) {
	desc := strings.TrimSpace(c.Arg(0))
	if desc == "" {
		return Reply{}, usageError(c.Cmd, "Give the trigger a description.")
	}
	t, err := c.GitLab.CreateTrigger(ctx, c.Project, desc)
	if err != nil {
		return Reply{}, notFound(err, "the project %s", c.Project)
	}
	// The only message that carries the token: ephemeral, to the requester.
	text := fmt.Sprintf("Created trigger #%d %s in %s. Its token, shown to you alone:\n```%s```\nKeep it secret; pipebot can run it with `/ci trigger run %s %d &lt;ref&gt;`.",
		t.ID, notify.Escape(describe(t.Description)), notify.Escape(c.Project), notify.Escape(t.Token.Reveal()), notify.Code(c.Project), t.ID)
	return TextReply("%s", text), nil
}

func (r *Router) triggerDelete(ctx context.Context, c *Call) (Reply, error) {
	id, err := c.ID(0, "trigger")
	if err != nil {
		return Reply{}, err
	}
	if err := c.GitLab.DeleteTrigger(ctx, c.Project, id); err != nil {
		return Reply{}, notFound(err, "trigger #%d in %s", id, c.Project)
	}
	return TextReply("Deleted trigger #%d of %s.", id, notify.Escape(c.Project)), nil
}

// findTrigger picks a trigger by id or, case-insensitively, by description.
func findTrigger(ts []gitlab.Trigger, which string) (gitlab.Trigger, error) {
	if id, ok := lexInt(strings.TrimPrefix(which, "#")); ok {
		for _, t := range ts {
			if t.ID == id {
				return t, nil
			}
		}
	}
	var found []gitlab.Trigger
	for _, t := range ts {
		if strings.EqualFold(strings.TrimSpace(t.Description), strings.TrimSpace(which)) {
			found = append(found, t)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return gitlab.Trigger{}, userErrorf("There is no trigger `%s`; `/ci trigger list` shows them.", notify.Code(which))
	}
	return gitlab.Trigger{}, userErrorf("Several triggers are called `%s`; name one by its id (`/ci trigger list` shows them).", notify.Code(which))
}

func (r *Router) triggerRun(ctx context.Context, c *Call) (Reply, error) {
	ref := c.Arg(1)
	proj, err := r.project(ctx, c.GitLab, c.Project)
	if err != nil {
		return Reply{}, err
	}
	ts, err := c.GitLab.Triggers(ctx, proj.Path)
	if err != nil {
		return Reply{}, fmt.Errorf("list triggers of %s: %w", proj.Path, err)
	}
	t, err := findTrigger(ts, c.Arg(0))
	if err != nil {
		return Reply{}, err
	}
	if !t.FullToken() {
		owner := "another GitLab user"
		if t.Owner.Username != "" {
			owner = t.Owner.Username
		}
		return Reply{}, userErrorf("I can't run trigger #%d: GitLab shows its full token only to its owner (%s), and pipebot sees just `%s…`. Create one pipebot owns with `/ci trigger create %s \"description\"`.",
			t.ID, notify.Code(owner), notify.Code(t.Token.Tail(gitlab.ShortTokenLen)), notify.Code(proj.Path))
	}
	p, err := c.GitLab.TriggerPipeline(ctx, proj.Path, t.Token, ref, gitlabVars(c.Vars), gitlabInputs(c.Inputs))
	if errors.Is(err, gitlab.ErrNotFound) {
		return Reply{}, userErrorf("GitLab did not accept trigger #%d's token for %s; it may have just been deleted.", t.ID, notify.Escape(proj.Path))
	}
	if err != nil {
		return Reply{}, fmt.Errorf("run trigger %d on %s in %s: %w", t.ID, ref, proj.Path, err)
	}
	return r.watch(ctx, c, proj, p, "Triggered")
}

// refusalMessage explains, in one sentence, a GitLab refusal that has a
// cause the user can act on.
func refusalMessage(err error) string {
	if gitlab.IsVariablesRefused(err) {
		return "GitLab refused the variables: this project's minimum role for pipeline variables (`ci_pipeline_variables_minimum_override_role`) is above that of the GitLab user the pipeline runs as (pipebot's token, or the trigger's owner); run it without `KEY=value`, or ask a project owner to lower that setting under Settings › CI/CD › Variables."
	}
	if refused := gitlab.InputRefusals(err); len(refused) > 0 {
		return inputRefusalMessage(refused)
	}
	if gitlab.IsConflict(err) {
		return "That variable exists in several environment scopes; say which with `scope:&lt;environment&gt;`."
	}
	return ""
}
