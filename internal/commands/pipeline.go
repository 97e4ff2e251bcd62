package commands

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/slack-go/slack"

	"github.com/pipebot/pipebot/internal/gitlab"
	"github.com/pipebot/pipebot/internal/notify"
	"github.com/pipebot/pipebot/internal/slackapp"
	"github.com/pipebot/pipebot/internal/state"
)

func (r *Router) pipelineCommands() []*Command {
	confirmPipeline := func(verb string) func(c *Call) string {
		return func(c *Call) string {
			return fmt.Sprintf("%s pipeline #%s of %s?", verb, notify.Escape(c.Arg(0)), notify.Escape(c.Project))
		}
	}
	return []*Command{
		{
			Name: "pipeline list", Aliases: []string{"pipelines"},
			Args:    "[project] [ref:<ref>] [status:<status>] [source:<source>] [user:<username>] [limit:<n>]",
			Summary: "List recent pipelines.",
			Examples: []string{"pipeline list group/app", "pipelines group/app ref:main status:failed",
				"pipeline list https://gitlab.com/group/app limit:5"},
			Role: RoleViewer, Project: true, Options: []string{"ref", "status", "source", "user", "limit"},
			Run: r.pipelineList,
		},
		{
			Name: "pipeline show", Args: "[project] <id>", Summary: "Show one pipeline with its stages and failed jobs.",
			Examples: []string{"pipeline show group/app 42", "pipeline show https://gitlab.com/group/app/-/pipelines/42"},
			Role:     RoleViewer, Project: true, MinArgs: 1, MaxArgs: 1, IDFrom: "pipeline",
			Run: r.pipelineShow,
		},
		{
			Name: "pipeline run", Aliases: []string{"run"}, Args: "[project] <ref> [KEY=value…] [input:NAME=value…]",
			Summary: "Start a pipeline on a branch or tag and watch it here.",
			Examples: []string{"pipeline run group/app main", "run group/app release/1.2 DEPLOY_ZONE=us-west1",
				"run group/app main input:environment=staging input:replicas=3"},
			Role: RoleOperator, Project: true, MinArgs: 1, MaxArgs: 1, Vars: true, Inputs: true, Mutating: true,
			Run: r.pipelineRun,
		},
		{
			Name: "pipeline retry", Args: "[project] <id>", Summary: "Retry a pipeline's failed jobs and watch it.",
			Examples: []string{"pipeline retry group/app 42", "pipeline retry https://gitlab.com/group/app/-/pipelines/42"},
			Role:     RoleOperator, Project: true, MinArgs: 1, MaxArgs: 1, IDFrom: "pipeline", Mutating: true,
			Run: r.pipelineRetry,
		},
		{
			Name: "pipeline cancel", Args: "[project] <id>", Summary: "Cancel a running pipeline (asks first).",
			Examples: []string{"pipeline cancel group/app 42"},
			Role:     RoleOperator, Project: true, MinArgs: 1, MaxArgs: 1, IDFrom: "pipeline", Mutating: true,
			Confirm: confirmPipeline("Cancel"), Run: r.pipelineCancel,
		},
		{
			Name: "pipeline delete", Args: "[project] <id>", Summary: "Delete a pipeline and its jobs (asks first).",
			Examples: []string{"pipeline delete group/app 42"},
			Role:     RoleAdmin, Project: true, MinArgs: 1, MaxArgs: 1, IDFrom: "pipeline", Mutating: true,
			Confirm: confirmPipeline("Delete"), Run: r.pipelineDelete,
		},
		{
			Name: "pipeline watch", Args: "[project] <id>", Summary: "Watch a running pipeline here until it ends.",
			Examples: []string{"pipeline watch group/app 42"},
			Role:     RoleViewer, Project: true, MinArgs: 1, MaxArgs: 1, IDFrom: "pipeline",
			Run: r.pipelineWatch,
		},
		{
			Name: "pipeline vars", Args: "[project] <id>", Summary: "Variables a pipeline ran with (values masked).",
			Examples: []string{"pipeline vars group/app 42"},
			Role:     RoleOperator, Project: true, MinArgs: 1, MaxArgs: 1, IDFrom: "pipeline",
			Run: r.pipelineVars,
		},
	}
}

func (r *Router) pipelineList(ctx context.Context, c *Call) (Reply, error) {
	// Slack allows 50 blocks a message: a header and at most 40 pipelines.
	limit, err := c.IntOpt("limit", 10, 40)
	if err != nil {
		return Reply{}, err
	}
	opt := gitlab.ListPipelinesOptions{
		Ref: c.Opt("ref", ""), Status: c.Opt("status", ""), Source: c.Opt("source", ""),
		Username: c.Opt("user", ""), Limit: limit,
	}
	if opt.Status != "" && !knownStatus(opt.Status) {
		return Reply{}, usageError(c.Cmd, "`%s` is not a pipeline status (%s).", notify.Code(opt.Status), strings.Join(pipelineStatuses, ", "))
	}
	pipes, err := c.GitLab.Pipelines(ctx, c.Project, opt)
	if err != nil {
		return Reply{}, fmt.Errorf("list pipelines of %s: %w", c.Project, err)
	}
	now := r.deps.Now()
	header := fmt.Sprintf("*Pipelines of %s*", notify.Escape(c.Project))
	if filters := describeFilters(opt); filters != "" {
		header += " (" + filters + ")"
	}
	blocks := []slack.Block{notify.Section(header)}
	if len(pipes) == 0 {
		blocks = append(blocks, notify.Section("No pipelines match."))
	}
	lines := []string{header}
	for _, p := range pipes {
		line := fmt.Sprintf("%s %s `%s` %s · %s", notify.StatusEmoji(p.Status), notify.Link(p.WebURL, "#"+strconv.FormatInt(p.ID, 10)),
			notify.Code(p.Ref), notify.Code(notify.StatusWord(p.Status)), notify.Code(p.Source))
		if p.User.Username != "" {
			line += " · " + notify.Escape(p.User.Username)
		}
		if ago := notify.Ago(now, p.CreatedAt); ago != "" {
			line += " · " + ago
		}
		sec := notify.Section(line)
		sec.Accessory = slack.NewAccessory(notify.Button("pipeline_show", "Details", "pipeline show "+notify.ProjectPipelineRef(c.Project, p.ID)))
		blocks = append(blocks, sec)
		lines = append(lines, line)
	}
	return Reply{Message: notify.Message{Text: strings.Join(lines, "\n"), Blocks: blocks}}, nil
}

var pipelineStatuses = []string{"created", "waiting_for_resource", "preparing", "pending", "running", "success", "failed", "canceled", "skipped", "manual", "scheduled"}

func knownStatus(s string) bool {
	for _, k := range pipelineStatuses {
		if s == k {
			return true
		}
	}
	return false
}

func describeFilters(o gitlab.ListPipelinesOptions) string {
	var parts []string
	for _, f := range [][2]string{{"ref", o.Ref}, {"status", o.Status}, {"source", o.Source}, {"user", o.Username}} {
		if f[1] != "" {
			parts = append(parts, f[0]+" `"+notify.Code(f[1])+"`")
		}
	}
	return strings.Join(parts, ", ")
}

func (r *Router) card(ctx context.Context, gl gitlabAPI, project string, p gitlab.Pipeline) (notify.Message, error) {
	jobs, err := gl.PipelineJobs(ctx, project, p.ID, gitlab.ListJobsOptions{Limit: 100})
	if err != nil {
		return notify.Message{}, fmt.Errorf("jobs of pipeline %d: %w", p.ID, err)
	}
	in := notify.CardInput{Project: project, Pipeline: p, Jobs: jobs, Now: r.deps.Now()}
	if p.Status == gitlab.StatusFailed {
		in.LogTails = notify.FailedJobTails(ctx, gl, project, jobs)
	}
	return notify.PipelineCard(in), nil
}

func (r *Router) pipelineShow(ctx context.Context, c *Call) (Reply, error) {
	id, err := c.ID(0, "pipeline")
	if err != nil {
		return Reply{}, err
	}
	p, err := c.GitLab.Pipeline(ctx, c.Project, id)
	if err != nil {
		return Reply{}, notFound(err, "pipeline #%d in %s", id, c.Project)
	}
	msg, err := r.card(ctx, c.GitLab, c.Project, p)
	if err != nil {
		return Reply{}, err
	}
	return Reply{Message: msg}, nil
}

// notFound turns GitLab's 404 into a sentence naming what was missing;
// the router words it for a person acting as themselves (personNotFound).
func notFound(err error, format string, args ...any) error {
	if errors.Is(err, gitlab.ErrNotFound) {
		return &UserError{Msg: "I can't find " + fmt.Sprintf(format, args...) + " (or pipebot's GitLab token can't see it)."}
	}
	return err
}

func (r *Router) project(ctx context.Context, gl pipelineAPI, path string) (gitlab.Project, error) {
	p, err := gl.Project(ctx, path)
	if err != nil {
		return gitlab.Project{}, notFound(err, "the project %s", path)
	}
	return p, nil
}

// watch starts watching p here and says so. When pipebot cannot post in
// the channel, the card comes back through response_url with how to invite
// pipebot, said once per channel.
func (r *Router) watch(ctx context.Context, c *Call, proj gitlab.Project, p gitlab.Pipeline, verb string) (Reply, error) {
	req := notify.WatchRequest{Project: proj, Pipeline: p, Channel: c.Req.ChannelID, Requester: c.Req.UserID}
	if c.Req.Kind == slackapp.KindAction && c.Cmd.Name == "pipeline retry" {
		// Retry clicked on a card: keep that one card.
		req.CardTS = c.Req.MessageTS
	}
	_, err := r.deps.Watcher.Watch(ctx, req)
	if errors.Is(err, notify.ErrNotInChannel) || errors.Is(err, notify.ErrChannelNotFound) {
		msg, cerr := r.card(ctx, c.GitLab, proj.Path, p)
		if cerr != nil {
			return Reply{}, cerr
		}
		if ch, _, serr := r.deps.Store.Channel(c.Req.ChannelID); serr == nil && !ch.InviteHinted {
			msg.Blocks = append(msg.Blocks, notify.Context(":information_source: I can't post in this channel, so this card won't update. Invite me with `/invite @pipebot` and I'll keep cards up to date here."))
			if _, uerr := r.deps.Store.UpdateChannel(c.Req.ChannelID, func(ch *state.Channel) error {
				ch.InviteHinted = true
				return nil
			}); uerr != nil {
				return Reply{}, fmt.Errorf("remember invite hint: %w", uerr)
			}
		}
		return Reply{Message: msg, InChannel: true}, nil
	}
	if err != nil {
		return Reply{}, fmt.Errorf("watch pipeline %d: %w", p.ID, err)
	}
	r.rememberHomePipeline(c, proj, p) // apphome.go
	return TextReply("%s pipeline %s on `%s` of %s; I'll keep its card here up to date.", verb,
		notify.Link(p.WebURL, "#"+strconv.FormatInt(p.ID, 10)), notify.Code(p.Ref), notify.Code(proj.Path)), nil
}

func gitlabVars(vars []lexVar) []gitlab.Variable {
	out := make([]gitlab.Variable, 0, len(vars))
	for _, v := range vars {
		out = append(out, gitlab.Variable{Key: v.Key, Value: v.Value, VariableType: "env_var"})
	}
	return out
}

// gitlabInputs types each input:NAME=value as DESIGN §2 says: a number or
// true/false is sent as such, anything else as a string.
func gitlabInputs(inputs []lexInput) []gitlab.Input {
	if len(inputs) == 0 {
		return nil
	}
	out := make([]gitlab.Input, 0, len(inputs))
	for _, in := range inputs {
		out = append(out, gitlab.TypedInput(in.Name, in.Value))
	}
	return out
}

func (r *Router) pipelineRun(ctx context.Context, c *Call) (Reply, error) {
	ref := c.Arg(0)
	proj, err := r.project(ctx, c.GitLab, c.Project)
	if err != nil {
		return Reply{}, err
	}
	p, err := c.GitLab.CreatePipeline(ctx, proj.Path, ref, gitlabVars(c.Vars), gitlabInputs(c.Inputs))
	if err != nil {
		return Reply{}, fmt.Errorf("create pipeline on %s in %s: %w", ref, proj.Path, err)
	}
	return r.watch(ctx, c, proj, p, "Started")
}

func (r *Router) pipelineRetry(ctx context.Context, c *Call) (Reply, error) {
	id, err := c.ID(0, "pipeline")
	if err != nil {
		return Reply{}, err
	}
	proj, err := r.project(ctx, c.GitLab, c.Project)
	if err != nil {
		return Reply{}, err
	}
	p, err := c.GitLab.RetryPipeline(ctx, proj.Path, id)
	if err != nil {
		return Reply{}, notFound(err, "pipeline #%d in %s", id, proj.Path)
	}
	return r.watch(ctx, c, proj, p, "Retrying")
}

func (r *Router) pipelineCancel(ctx context.Context, c *Call) (Reply, error) {
	id, err := c.ID(0, "pipeline")
	if err != nil {
		return Reply{}, err
	}
	p, err := c.GitLab.CancelPipeline(ctx, c.Project, id)
	if err != nil {
		return Reply{}, notFound(err, "pipeline #%d in %s", id, c.Project)
	}
	return TextReply("Canceled pipeline %s of %s (now %s).", notify.Link(p.WebURL, "#"+strconv.FormatInt(p.ID, 10)),
		notify.Escape(c.Project), notify.Escape(notify.StatusWord(p.Status))), nil
}

func (r *Router) pipelineDelete(ctx context.Context, c *Call) (Reply, error) {
	id, err := c.ID(0, "pipeline")
	if err != nil {
		return Reply{}, err
	}
	if err := c.GitLab.DeletePipeline(ctx, c.Project, id); err != nil {
		return Reply{}, notFound(err, "pipeline #%d in %s", id, c.Project)
	}
	return TextReply("Deleted pipeline #%d of %s.", id, notify.Escape(c.Project)), nil
}

func (r *Router) pipelineWatch(ctx context.Context, c *Call) (Reply, error) {
	id, err := c.ID(0, "pipeline")
	if err != nil {
		return Reply{}, err
	}
	proj, err := r.project(ctx, c.GitLab, c.Project)
	if err != nil {
		return Reply{}, err
	}
	p, err := c.GitLab.Pipeline(ctx, proj.Path, id)
	if err != nil {
		return Reply{}, notFound(err, "pipeline #%d in %s", id, proj.Path)
	}
	if p.Status.Finished() {
		msg, err := r.card(ctx, c.GitLab, proj.Path, p)
		if err != nil {
			return Reply{}, err
		}
		msg.Blocks = append(msg.Blocks, notify.Context("This pipeline has already ended; nothing to watch."))
		return Reply{Message: msg}, nil
	}
	return r.watch(ctx, c, proj, p, "Watching")
}

func (r *Router) pipelineVars(ctx context.Context, c *Call) (Reply, error) {
	id, err := c.ID(0, "pipeline")
	if err != nil {
		return Reply{}, err
	}
	vars, err := c.GitLab.PipelineVariables(ctx, c.Project, id)
	if err != nil {
		return Reply{}, notFound(err, "pipeline #%d in %s", id, c.Project)
	}
	if len(vars) == 0 {
		return TextReply("Pipeline #%d of %s ran with no pipeline variables.", id, notify.Escape(c.Project)), nil
	}
	lines := []string{fmt.Sprintf("*Variables of pipeline #%d* (values are not shown)", id)}
	for _, v := range vars {
		kind := ""
		if v.VariableType == "file" {
			kind = " (file)"
		}
		lines = append(lines, "• `"+notify.Code(v.Key)+"` = `••••••`"+kind)
	}
	return TextReply("%s", strings.Join(lines, "\n")), nil
}
