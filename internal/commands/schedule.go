package commands

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/pipebot/pipebot/internal/gitlab"
	"github.com/pipebot/pipebot/internal/notify"
)

// scheduleAPI is what the schedule commands ask GitLab.
type scheduleAPI interface {
	Schedules(ctx context.Context, project string, limit int) ([]gitlab.Schedule, error)
	Schedule(ctx context.Context, project string, id int64) (gitlab.Schedule, error)
	CreateSchedule(ctx context.Context, project string, opt gitlab.ScheduleOptions) (gitlab.Schedule, error)
	EditSchedule(ctx context.Context, project string, id int64, opt gitlab.ScheduleOptions) (gitlab.Schedule, error)
	DeleteSchedule(ctx context.Context, project string, id int64) error
	PlaySchedule(ctx context.Context, project string, id int64) error
	TakeScheduleOwnership(ctx context.Context, project string, id int64) (gitlab.Schedule, error)
	SetScheduleVariable(ctx context.Context, project string, id int64, v gitlab.Variable) (created bool, err error)
	DeleteScheduleVariable(ctx context.Context, project string, id int64, key string) error
}

// playPollWaits are the waits between looks for the pipeline a play
// created: GitLab answers the play at once and creates the pipeline in a
// background job (RunPipelineScheduleWorker), usually within a second.
var playPollWaits = []time.Duration{0, 500 * time.Millisecond, time.Second, 2 * time.Second, 2 * time.Second, 2 * time.Second, 2 * time.Second}

func (r *Router) scheduleCommands() []*Command {
	return []*Command{
		{
			Name: "schedule list", Aliases: []string{"schedules"}, Args: "[project] [limit:<n>]",
			Summary:  "Pipeline schedules with their next run, owner, last pipeline and health.",
			Examples: []string{"schedule list group/app", "schedules"},
			Role:     RoleViewer, Project: true, Options: []string{"limit"},
			Run: r.scheduleList,
		},
		{
			Name: "schedule show", Args: "[project] <id>", Summary: "One pipeline schedule in detail.",
			Examples: []string{"schedule show group/app 13"},
			Role:     RoleViewer, Project: true, MinArgs: 1, MaxArgs: 1,
			Run: r.scheduleShow,
		},
		{
			Name: "schedule create", Args: `[project] <ref> cron:"<min hour dom mon dow>" [tz:<zone>] [description:"…"] [active:yes|no]`,
			Summary:  "Create a pipeline schedule; the cron and time zone are checked first.",
			Examples: []string{`schedule create group/app main cron:"0 2 * * *" tz:"Pacific Time (US & Canada)" description:"nightly build"`, `schedule create main cron:"30 6 * * 1-5" tz:Europe/Berlin`},
			Role:     RoleAdmin, Project: true, MinArgs: 1, MaxArgs: 1, Mutating: true,
			Options: []string{"cron", "tz", "description", "active"},
			Run:     r.scheduleCreate,
		},
		{
			Name: "schedule update", Args: `[project] <id> [cron:"…"] [ref:<ref>] [description:"…"] [tz:<zone>] [active:yes|no]`,
			Summary:  "Change a pipeline schedule (only its owner may; see `schedule own`).",
			Examples: []string{`schedule update group/app 13 cron:"0 3 * * *"`, "schedule update group/app 13 active:no"},
			Role:     RoleAdmin, Project: true, MinArgs: 1, MaxArgs: 1, Mutating: true,
			Options: []string{"cron", "ref", "description", "tz", "active"},
			Run:     r.scheduleUpdate,
		},
		{
			Name: "schedule delete", Args: "[project] <id>", Summary: "Delete a pipeline schedule (asks first).",
			Examples: []string{"schedule delete group/app 13"},
			Role:     RoleAdmin, Project: true, MinArgs: 1, MaxArgs: 1, Mutating: true,
			Confirm: func(c *Call) string {
				return fmt.Sprintf("Delete schedule #%s of %s?", notify.Escape(c.Arg(0)), notify.Escape(c.Project))
			},
			Run: r.scheduleDelete,
		},
		{
			Name: "schedule run", Args: "[project] <id>", Summary: "Run a schedule now and watch the pipeline it creates.",
			Examples: []string{"schedule run group/app 13"},
			Role:     RoleOperator, Project: true, MinArgs: 1, MaxArgs: 1, Mutating: true,
			Run: r.scheduleRun,
		},
		{
			Name: "schedule own", Args: "[project] <id>", Summary: "Make pipebot's GitLab user the schedule's owner.",
			Examples: []string{"schedule own group/app 13"},
			Role:     RoleAdmin, Project: true, MinArgs: 1, MaxArgs: 1, Mutating: true,
			Run: r.scheduleOwn,
		},
		{
			Name: "schedule var set", Args: "[project] <id> KEY=value…", Summary: "Create or update a schedule's variables (values are never shown).",
			Examples: []string{"schedule var set group/app 13 DEPLOY_ZONE=us-west1"},
			Role:     RoleAdmin, Project: true, MinArgs: 1, MaxArgs: 1, Vars: true, Mutating: true,
			Run: r.scheduleVarSet,
		},
		{
			Name: "schedule var delete", Args: "[project] <id> <KEY>", Summary: "Delete a schedule's variable.",
			Examples: []string{"schedule var delete group/app 13 DEPLOY_ZONE"},
			Role:     RoleAdmin, Project: true, MinArgs: 2, MaxArgs: 2, Mutating: true,
			Run: r.scheduleVarDelete,
		},
	}
}

// scheduleError turns GitLab's refusals about schedules into sentences.
func scheduleError(err error, id int64, project string) error {
	switch {
	case errors.Is(err, gitlab.ErrVariablesNotAllowed):
		return userErrorf("GitLab refused: the settings of %s do not allow pipeline variables for the role of pipebot's GitLab user (Settings → CI/CD → Variables → Minimum role to use pipeline variables).", notify.Escape(project))
	case errors.Is(err, gitlab.ErrNotFound):
		return userErrorf("I can't find schedule #%d in %s (or pipebot's GitLab token can't see it).", id, notify.Escape(project))
	case errors.Is(err, gitlab.ErrForbidden):
		return userErrorf("GitLab refused: only a schedule's owner may change it, and pipebot's GitLab user does not own schedule #%d (or lacks the role). An admin can run `/ci schedule own %s %d` first.", id, notify.Code(project), id)
	}
	return err
}

func (r *Router) scheduleList(ctx context.Context, c *Call) (Reply, error) {
	limit, err := c.IntOpt("limit", 10, 20)
	if err != nil {
		return Reply{}, err
	}
	list, err := c.GitLab.Schedules(ctx, c.Project, limit)
	if err != nil {
		return Reply{}, notFound(err, "the project %s", c.Project)
	}
	header := fmt.Sprintf("*Pipeline schedules of %s*", notify.Escape(c.Project))
	if len(list) == 0 {
		return TextReply("%s\nNone yet. Create one with `/ci schedule create %s main cron:\"0 2 * * *\"`.", header, notify.Code(c.Project)), nil
	}
	// The list carries no last pipeline: read each schedule, a few at a time.
	detailed := make([]bool, len(list))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i := range list {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if s, err := c.GitLab.Schedule(ctx, c.Project, list[i].ID); err == nil {
				list[i], detailed[i] = s, true
			}
		}()
	}
	wg.Wait()
	blocks := []slack.Block{notify.Section(header)}
	lines := []string{header}
	for i, s := range list {
		text := scheduleText(c.Project, s, detailed[i])
		sec := notify.Section(text)
		sec.Accessory = slack.NewAccessory(notify.Button("schedule_show", "Details", "schedule show "+lexQuote(c.Project)+" "+strconv.FormatInt(s.ID, 10)))
		blocks = append(blocks, sec)
		lines = append(lines, text)
	}
	return Reply{Message: notify.Message{Text: strings.Join(lines, "\n"), Blocks: blocks}}, nil
}

func (r *Router) scheduleShow(ctx context.Context, c *Call) (Reply, error) {
	id, err := c.ID(0, "schedule")
	if err != nil {
		return Reply{}, err
	}
	s, err := c.GitLab.Schedule(ctx, c.Project, id)
	if err != nil {
		return Reply{}, scheduleError(err, id, c.Project)
	}
	text := scheduleText(c.Project, s, true)
	blocks := []slack.Block{notify.Section(text)}
	if len(s.Variables) > 0 {
		keys := make([]string, len(s.Variables))
		for i, v := range s.Variables {
			keys[i] = "`" + notify.Code(v.Key) + "`"
		}
		blocks = append(blocks, notify.Context("Variables (values are not shown): "+strings.Join(keys, ", ")))
	}
	blocks = append(blocks, slack.NewActionBlock("schedule",
		notify.Button("schedule_run", "Run now", "schedule run "+lexQuote(c.Project)+" "+strconv.FormatInt(id, 10))))
	return Reply{Message: notify.Message{Text: text, Blocks: blocks}}, nil
}

// scheduleText renders one schedule: what, when, who, last pipeline and
// health. GitLab's next_run_at is shown in the schedule's own zone.
func scheduleText(project string, s gitlab.Schedule, detailed bool) string {
	state := "active"
	if !s.Active {
		state = "inactive"
	}
	desc := s.Description
	if desc == "" {
		desc = "(no description)"
	}
	tz := s.CronTimezone
	if tz == "" {
		tz = "UTC"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "*#%d %s* · `%s` · `%s` %s · %s", s.ID, notify.Code(desc), notify.Code(shortRef(s.Ref)),
		notify.Code(s.Cron), notify.Code(tz), state)
	next := "none planned"
	if !s.NextRunAt.IsZero() {
		next = s.NextRunAt.In(zoneLocation(tz)).Format("Mon 2 Jan 2006 15:04 MST")
		if !s.Active {
			next += " (inactive: will not run)"
		}
	}
	owner := "gone"
	if s.Owner.ID != 0 {
		owner = "@" + notify.Escape(s.Owner.Username)
		if s.Owner.State != "" && s.Owner.State != "active" {
			owner += " (" + notify.Escape(s.Owner.State) + ")"
		}
	}
	fmt.Fprintf(&b, "\nNext run: %s · owner: %s", next, owner)
	switch {
	case !detailed:
		b.WriteString(" · last pipeline: unknown")
	case s.LastPipeline.ID == 0:
		b.WriteString(" · last pipeline: none")
	default:
		lp := s.LastPipeline
		label := "#" + strconv.FormatInt(lp.ID, 10)
		fmt.Fprintf(&b, " · last pipeline: %s %s %s", notify.StatusEmoji(lp.Status), notify.Link(lp.WebURL, label), notify.Escape(notify.StatusWord(lp.Status)))
	}
	if h := scheduleHealth(s, detailed); len(h) > 0 {
		b.WriteString("\n:warning: " + strings.Join(h, "; "))
	} else {
		b.WriteString("\n:white_check_mark: healthy")
	}
	return b.String()
}

// scheduleHealth lists what is wrong with a schedule: inactive, owner
// blocked or gone (GitLab then cannot run it), last pipeline failed, never
// ran. detailed says whether the last pipeline is known.
func scheduleHealth(s gitlab.Schedule, detailed bool) []string {
	var out []string
	if !s.Active {
		out = append(out, "inactive")
	}
	switch {
	case s.Owner.ID == 0:
		out = append(out, "owner gone: take ownership so that it can run")
	case s.Owner.State != "" && s.Owner.State != "active":
		out = append(out, "owner "+notify.Escape(s.Owner.State)+": take ownership so that it can run")
	}
	if detailed {
		switch {
		case s.LastPipeline.ID == 0:
			out = append(out, "never ran")
		case s.LastPipeline.Status == gitlab.StatusFailed:
			out = append(out, "last scheduled pipeline failed")
		}
	}
	return out
}

func shortRef(ref string) string {
	return strings.TrimPrefix(strings.TrimPrefix(ref, "refs/heads/"), "refs/tags/")
}

// parseActive reads active:yes|no (true/false, on/off).
func parseActive(c *Call) (*bool, error) {
	v, ok := c.Opts["active"]
	if !ok {
		return nil, nil
	}
	var b bool
	switch strings.ToLower(v) {
	case "yes", "true", "on", "1":
		b = true
	case "no", "false", "off", "0":
		b = false
	default:
		return nil, usageError(c.Cmd, "`active:%s` needs yes or no.", notify.Code(v))
	}
	return &b, nil
}

// previewRuns checks cron and zone together and returns the next three
// runs; a cron that never fires is refused.
func previewRuns(spec string, z zone, now time.Time) ([]time.Time, error) {
	cs, err := parseCron(spec)
	if err != nil {
		return nil, err
	}
	runs := cs.next(now, z.Loc, 3)
	if len(runs) == 0 {
		return nil, userErrorf("`%s` never fires (it names a date that does not exist).", escapeCode(spec))
	}
	return runs, nil
}

func runsText(runs []time.Time) string {
	parts := make([]string, len(runs))
	for i, t := range runs {
		parts[i] = t.Format("Mon 2 Jan 2006 15:04 MST")
	}
	return strings.Join(parts, " · ")
}

func (r *Router) scheduleCreate(ctx context.Context, c *Call) (Reply, error) {
	ref := c.Arg(0)
	spec, ok := c.Opts["cron"]
	if !ok {
		return Reply{}, usageError(c.Cmd, "A schedule needs a cron, for example `cron:\"0 2 * * *\"` (every day at 02:00).")
	}
	z, err := parseZone(c.Opt("tz", ""))
	if err != nil {
		return Reply{}, err
	}
	runs, err := previewRuns(spec, z, r.deps.Now())
	if err != nil {
		return Reply{}, err
	}
	active, err := parseActive(c)
	if err != nil {
		return Reply{}, err
	}
	spec = strings.Join(strings.Fields(spec), " ")
	desc := c.Opt("description", fmt.Sprintf("%s at %s (from Slack)", ref, spec))
	s, err := c.GitLab.CreateSchedule(ctx, c.Project, gitlab.ScheduleOptions{
		Description: &desc, Ref: &ref, Cron: &spec, CronTimezone: &z.Name, Active: active,
	})
	switch {
	case errors.Is(err, gitlab.ErrVariablesNotAllowed):
		return Reply{}, scheduleError(err, 0, c.Project)
	case errors.Is(err, gitlab.ErrForbidden):
		return Reply{}, userErrorf("GitLab refused: pipebot's GitLab user needs at least the Developer role in %s to create schedules.", notify.Escape(c.Project))
	case err != nil:
		return Reply{}, notFound(err, "the project %s", c.Project)
	}
	return TextReply("Created schedule #%d of %s: `%s` at `%s` in %s.\nNext runs: %s", s.ID, notify.Escape(c.Project),
		notify.Code(shortRef(s.Ref)), notify.Code(s.Cron), notify.Code(z.Name), runsText(runs)), nil
}

func (r *Router) scheduleUpdate(ctx context.Context, c *Call) (Reply, error) {
	id, err := c.ID(0, "schedule")
	if err != nil {
		return Reply{}, err
	}
	if len(c.Opts) == 0 {
		return Reply{}, usageError(c.Cmd, "Say what to change: `cron:`, `ref:`, `description:`, `tz:` or `active:`.")
	}
	var opt gitlab.ScheduleOptions
	if v, ok := c.Opts["ref"]; ok {
		opt.Ref = &v
	}
	if v, ok := c.Opts["description"]; ok {
		opt.Description = &v
	}
	if opt.Active, err = parseActive(c); err != nil {
		return Reply{}, err
	}
	spec, hasCron := c.Opts["cron"]
	tzName, hasTZ := c.Opts["tz"]
	if hasCron || hasTZ {
		// Check the pair that will be in force, before GitLab is called.
		cur, err := c.GitLab.Schedule(ctx, c.Project, id)
		if err != nil {
			return Reply{}, scheduleError(err, id, c.Project)
		}
		if !hasCron {
			spec = cur.Cron
		}
		if !hasTZ {
			tzName = cur.CronTimezone
		}
		z, err := parseZone(tzName)
		if err != nil {
			return Reply{}, err
		}
		if _, err := previewRuns(spec, z, r.deps.Now()); err != nil {
			return Reply{}, err
		}
		if hasCron {
			spec = strings.Join(strings.Fields(spec), " ")
			opt.Cron = &spec
		}
		if hasTZ {
			opt.CronTimezone = &z.Name
		}
	}
	s, err := c.GitLab.EditSchedule(ctx, c.Project, id, opt)
	if err != nil {
		return Reply{}, scheduleError(err, id, c.Project)
	}
	text := fmt.Sprintf("Updated schedule #%d of %s.\n%s", id, notify.Escape(c.Project), scheduleText(c.Project, s, true))
	if z, zerr := parseZone(s.CronTimezone); zerr == nil {
		if runs, perr := previewRuns(s.Cron, z, r.deps.Now()); perr == nil {
			text += "\nNext runs: " + runsText(runs)
		}
	}
	return TextReply("%s", text), nil
}

func (r *Router) scheduleDelete(ctx context.Context, c *Call) (Reply, error) {
	id, err := c.ID(0, "schedule")
	if err != nil {
		return Reply{}, err
	}
	if err := c.GitLab.DeleteSchedule(ctx, c.Project, id); err != nil {
		return Reply{}, scheduleError(err, id, c.Project)
	}
	return TextReply("Deleted schedule #%d of %s.", id, notify.Escape(c.Project)), nil
}

func (r *Router) scheduleOwn(ctx context.Context, c *Call) (Reply, error) {
	id, err := c.ID(0, "schedule")
	if err != nil {
		return Reply{}, err
	}
	s, err := c.GitLab.TakeScheduleOwnership(ctx, c.Project, id)
	if err != nil {
		return Reply{}, scheduleError(err, id, c.Project)
	}
	who := "pipebot's GitLab user"
	if c.Actor.Person() {
		who = "Your GitLab user"
	}
	return TextReply("%s @%s now owns schedule #%d of %s; its pipelines run as that user.",
		who, notify.Escape(s.Owner.Username), id, notify.Escape(c.Project)), nil
}

func (r *Router) scheduleVarSet(ctx context.Context, c *Call) (Reply, error) {
	id, err := c.ID(0, "schedule")
	if err != nil {
		return Reply{}, err
	}
	if len(c.Vars) == 0 {
		return Reply{}, usageError(c.Cmd, "Give the variable as `KEY=value`.")
	}
	var done []string
	for _, v := range c.Vars {
		created, err := c.GitLab.SetScheduleVariable(ctx, c.Project, id, gitlab.Variable{Key: v.Key, Value: v.Value, VariableType: "env_var"})
		if err != nil {
			return Reply{}, scheduleError(err, id, c.Project)
		}
		verb := "updated"
		if created {
			verb = "created"
		}
		done = append(done, fmt.Sprintf("`%s` (%s)", notify.Code(v.Key), verb))
	}
	return TextReply("Set %s on schedule #%d of %s. Values are never shown.", strings.Join(done, ", "), id, notify.Escape(c.Project)), nil
}

func (r *Router) scheduleVarDelete(ctx context.Context, c *Call) (Reply, error) {
	id, err := c.ID(0, "schedule")
	if err != nil {
		return Reply{}, err
	}
	key := c.Arg(1)
	if !lexIsVarKey(key) {
		return Reply{}, usageError(c.Cmd, "`%s` is not a variable name.", escapeCode(key))
	}
	if err := c.GitLab.DeleteScheduleVariable(ctx, c.Project, id, key); err != nil {
		if errors.Is(err, gitlab.ErrNotFound) {
			return Reply{}, userErrorf("Schedule #%d of %s has no variable `%s` (or I can't see the schedule).", id, notify.Escape(c.Project), notify.Code(key))
		}
		return Reply{}, scheduleError(err, id, c.Project)
	}
	return TextReply("Deleted variable `%s` of schedule #%d of %s.", notify.Code(key), id, notify.Escape(c.Project)), nil
}

// scheduleRun plays a schedule and watches the pipeline it creates. The
// play answers no pipeline id, so pipebot notes the newest scheduled
// pipeline on the ref before playing and then looks for a newer one, a
// few times over some seconds.
func (r *Router) scheduleRun(ctx context.Context, c *Call) (Reply, error) {
	id, err := c.ID(0, "schedule")
	if err != nil {
		return Reply{}, err
	}
	proj, err := r.project(ctx, c.GitLab, c.Project)
	if err != nil {
		return Reply{}, err
	}
	s, err := c.GitLab.Schedule(ctx, proj.Path, id)
	if err != nil {
		return Reply{}, scheduleError(err, id, proj.Path)
	}
	ref := shortRef(s.Ref)
	opt := gitlab.ListPipelinesOptions{Source: "schedule", Ref: ref, OrderBy: "id", Sort: "desc", Limit: 5}
	before, err := c.GitLab.Pipelines(ctx, proj.Path, opt)
	if err != nil {
		return Reply{}, fmt.Errorf("list scheduled pipelines of %s: %w", proj.Path, err)
	}
	var baseline int64
	if len(before) > 0 {
		baseline = before[0].ID
	}
	if err := c.GitLab.PlaySchedule(ctx, proj.Path, id); err != nil {
		return Reply{}, scheduleError(err, id, proj.Path)
	}
	for _, wait := range playPollWaits {
		if err := r.sleep(ctx, wait); err != nil {
			break
		}
		after, err := c.GitLab.Pipelines(ctx, proj.Path, opt)
		if err != nil {
			return Reply{}, fmt.Errorf("find the pipeline of schedule %d in %s: %w", id, proj.Path, err)
		}
		for _, p := range after {
			if p.ID > baseline {
				full, err := c.GitLab.Pipeline(ctx, proj.Path, p.ID)
				if err != nil {
					return Reply{}, notFound(err, "pipeline #%d in %s", p.ID, proj.Path)
				}
				return r.watch(ctx, c, proj, full, fmt.Sprintf("Schedule #%d started", id))
			}
		}
	}
	msg := fmt.Sprintf("GitLab accepted the run of schedule #%d of %s, but no pipeline appeared on `%s`. GitLab creates it in the background and drops it without a word when it cannot run: the ref has no jobs to run, or the user lacks access.",
		id, notify.Code(proj.Path), notify.Code(ref))
	if len(s.Variables) > 0 {
		msg += " This schedule has variables: if the project's settings do not allow pipeline variables for that role (Settings → CI/CD → Variables → Minimum role to use pipeline variables), GitLab refuses the pipeline."
	}
	return Reply{}, &UserError{Msg: msg}
}

// sleep waits d unless ctx ends first; Deps.Sleep replaces it in tests.
func (r *Router) sleep(ctx context.Context, d time.Duration) error {
	if r.deps.Sleep != nil {
		return r.deps.Sleep(ctx, d)
	}
	return notify.Sleep(ctx, d)
}
