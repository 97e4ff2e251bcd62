package commands

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/pipebot/pipebot/internal/gitlab"
	"github.com/pipebot/pipebot/internal/notify"
)

// jobAPI is what the job commands ask GitLab.
type jobAPI interface {
	Job(ctx context.Context, project string, id int64) (gitlab.Job, error)
	ProjectJobs(ctx context.Context, project string, opt gitlab.ListJobsOptions) ([]gitlab.Job, error)
	PipelineJobs(ctx context.Context, project string, id int64, opt gitlab.ListJobsOptions) ([]gitlab.Job, error)
	RetryJob(ctx context.Context, project string, id int64) (gitlab.Job, error)
	CancelJob(ctx context.Context, project string, id int64) (gitlab.Job, error)
	PlayJob(ctx context.Context, project string, id int64, vars []gitlab.Variable, inputs []gitlab.Input) (gitlab.Job, error)
	EraseJob(ctx context.Context, project string, id int64) (gitlab.Job, error)
	KeepArtifacts(ctx context.Context, project string, id int64) (gitlab.Job, error)
	JobTrace(ctx context.Context, project string, id int64, w io.Writer, max int64) (int64, error)
	JobArtifacts(ctx context.Context, project string, id int64, w io.Writer, max int64) (int64, error)
	JobArtifactFile(ctx context.Context, project string, id int64, path string, w io.Writer, max int64) (int64, error)
	RefArtifacts(ctx context.Context, project, ref, job, path string, w io.Writer, max int64) (int64, error)
}

// uploader shares files in Slack, spooling GitLab's bytes first.
type uploader interface {
	Relay(ctx context.Context, spool *notify.Spool, up notify.Upload, fetch func(w io.Writer) (int64, error)) (notify.UploadResult, error)
}

var _ uploader = (*notify.Slack)(nil)

const (
	// defaultMaxUpload is Slack's own file size limit.
	defaultMaxUpload = 1 << 30
	// uploadTimeout bounds one relay GitLab → spool → Slack; a gigabyte
	// takes a while on a slow link, longer than a command's timeout.
	uploadTimeout = 30 * time.Minute
)

var jobStatuses = []string{"created", "pending", "running", "failed", "success", "canceled", "canceling", "skipped",
	"waiting_for_resource", "preparing", "manual", "scheduled"}

func (r *Router) jobCommands() []*Command {
	return []*Command{
		{
			Name: "job list", Aliases: []string{"jobs"},
			Args:    "[project] [pipeline:<id>] [scope:<status,…>] [limit:<n>]",
			Summary: "List a project's recent jobs, or a pipeline's.",
			Examples: []string{"job list group/app", "jobs group/app pipeline:42 scope:failed",
				"job list group/app scope:failed,canceled limit:5"},
			Role: RoleViewer, Project: true, Options: []string{"pipeline", "scope", "limit"}, IDFrom: "pipeline:",
			Run: r.jobList,
		},
		{
			Name: "job show", Args: "[project] <id>", Summary: "Show one job with its actions.",
			Examples: []string{"job show group/app 7", "job show https://gitlab.com/group/app/-/jobs/7"},
			Role:     RoleViewer, Project: true, MinArgs: 1, MaxArgs: 1, IDFrom: "job",
			Run: r.jobShow,
		},
		{
			Name: "job log", Aliases: []string{"log"}, Args: "[project] <id> [lines:<n>] [file [raw:yes]]",
			Summary:  "The last lines of a job's log (default 30); `file` uploads the whole log as GitLab shows it, `raw:yes` exactly as stored.",
			Examples: []string{"job log group/app 7", "log group/app 7 lines:100", "job log https://gitlab.com/group/app/-/jobs/7 file", "job log group/app 7 file raw:yes"},
			Role:     RoleViewer, Project: true, MinArgs: 1, MaxArgs: 2, IDFrom: "job", Options: []string{"lines", "raw"},
			Run: r.jobLog,
		},
		{
			Name: "job artifacts", Args: "[project] <id> [path:<file>] | [project] ref:<ref> job:<name> [path:<file>]",
			Summary: "Upload a job's artifacts archive, or one file of it, here.",
			Examples: []string{"job artifacts group/app 7", "job artifacts group/app 7 path:build/app.txt",
				"job artifacts group/app ref:main job:build"},
			Role: RoleViewer, Project: true, MaxArgs: 1, IDFrom: "job", Options: []string{"path", "ref", "job"},
			Run: r.jobArtifacts,
		},
		{
			Name: "job keep", Args: "[project] <id>", Summary: "Keep a job's artifacts from expiring.",
			Examples: []string{"job keep group/app 7"},
			Role:     RoleOperator, Project: true, MinArgs: 1, MaxArgs: 1, IDFrom: "job", Mutating: true,
			Run: r.jobKeep,
		},
		{
			Name: "job retry", Args: "[project] <id>", Summary: "Run a finished job again.",
			Examples: []string{"job retry group/app 7"},
			Role:     RoleOperator, Project: true, MinArgs: 1, MaxArgs: 1, IDFrom: "job", Mutating: true,
			Run: r.jobRetry,
		},
		{
			Name: "job cancel", Args: "[project] <id>", Summary: "Cancel a pending or running job (asks first).",
			Examples: []string{"job cancel group/app 7"},
			Role:     RoleOperator, Project: true, MinArgs: 1, MaxArgs: 1, IDFrom: "job", Mutating: true,
			Confirm: func(c *Call) string {
				return fmt.Sprintf("Cancel job #%s in %s?", notify.Escape(c.Arg(0)), notify.Escape(c.Project))
			},
			Run: r.jobCancel,
		},
		{
			Name: "job play", Args: "[project] <id> [KEY=value…] [input:NAME=value…]",
			Summary:  "Run a manual job (with job variables and job inputs) and watch its pipeline here.",
			Examples: []string{"job play group/app 7", "job play group/app 7 DEPLOY_ZONE=us-west1", "job play group/app 7 input:target=eu"},
			Role:     RoleOperator, Project: true, MinArgs: 1, MaxArgs: 1, IDFrom: "job", Vars: true, Inputs: true, Mutating: true,
			Run: r.jobPlay,
		},
		{
			Name: "job erase", Args: "[project] <id>", Summary: "Erase a job's log and artifacts (asks first).",
			Examples: []string{"job erase group/app 7"},
			Role:     RoleAdmin, Project: true, MinArgs: 1, MaxArgs: 1, IDFrom: "job", Mutating: true,
			Confirm: func(c *Call) string {
				return fmt.Sprintf("Erase the log and artifacts of job #%s in %s? This cannot be undone.", notify.Escape(c.Arg(0)), notify.Escape(c.Project))
			},
			Run: r.jobErase,
		},
	}
}

// jobRef is how commands on buttons name a job.
func jobRef(project string, id int64) string {
	return lexQuote(project) + " " + strconv.FormatInt(id, 10)
}

func jobLink(j gitlab.Job) string {
	return notify.Link(j.WebURL, "#"+strconv.FormatInt(j.ID, 10))
}

func parseScope(c *Call) ([]gitlab.Status, error) {
	raw := c.Opt("scope", "")
	if raw == "" {
		return nil, nil
	}
	var out []gitlab.Status
	for _, s := range strings.Split(raw, ",") {
		s = strings.ToLower(strings.TrimSpace(s))
		if s == "" {
			continue
		}
		known := false
		for _, k := range jobStatuses {
			known = known || k == s
		}
		if !known {
			return nil, usageError(c.Cmd, "`%s` is not a job status (%s).", notify.Code(s), strings.Join(jobStatuses, ", "))
		}
		out = append(out, gitlab.Status(s))
	}
	return out, nil
}

func (r *Router) jobList(ctx context.Context, c *Call) (Reply, error) {
	limit, err := c.IntOpt("limit", 20, 40)
	if err != nil {
		return Reply{}, err
	}
	scope, err := parseScope(c)
	if err != nil {
		return Reply{}, err
	}
	opt := gitlab.ListJobsOptions{Scope: scope, Limit: limit}
	var jobs []gitlab.Job
	header := fmt.Sprintf("*Jobs of %s*", notify.Escape(c.Project))
	if ps := c.Opt("pipeline", ""); ps != "" {
		pid, ok := lexInt(ps)
		if !ok {
			return Reply{}, usageError(c.Cmd, "`pipeline:%s` needs a pipeline id (a positive number).", notify.Code(ps))
		}
		jobs, err = c.GitLab.PipelineJobs(ctx, c.Project, pid, opt)
		if err != nil {
			return Reply{}, notFound(err, "pipeline #%d in %s", pid, c.Project)
		}
		header = fmt.Sprintf("*Jobs of pipeline #%d* in %s", pid, notify.Escape(c.Project))
	} else {
		jobs, err = c.GitLab.ProjectJobs(ctx, c.Project, opt)
		if err != nil {
			return Reply{}, notFound(err, "the project %s", c.Project)
		}
	}
	if len(scope) > 0 {
		header += " (" + notify.Escape(c.Opt("scope", "")) + ")"
	}
	blocks := []slack.Block{notify.Section(header)}
	lines := []string{header}
	if len(jobs) == 0 {
		blocks = append(blocks, notify.Section("No jobs match."))
	}
	for _, j := range jobs {
		line := jobLine(j)
		sec := notify.Section(line)
		if btn := jobMainButton(c.Project, j); btn != nil {
			sec.Accessory = slack.NewAccessory(btn)
		}
		blocks = append(blocks, sec)
		lines = append(lines, line)
	}
	return Reply{Message: notify.Message{Text: strings.Join(lines, "\n"), Blocks: blocks}}, nil
}

// jobLine is one job in a list: status, link, name, stage, reason, time.
func jobLine(j gitlab.Job) string {
	line := fmt.Sprintf("%s %s `%s` (%s) %s", notify.StatusEmoji(j.Status), jobLink(j), notify.Code(j.Name),
		notify.Code(j.Stage), notify.Escape(notify.StatusWord(j.Status)))
	if j.Status == gitlab.StatusFailed && j.FailureReason != "" {
		line += " — " + notify.Escape(strings.ReplaceAll(j.FailureReason, "_", " "))
	}
	if j.AllowFailure && j.Status == gitlab.StatusFailed {
		line += " _(allowed to fail)_"
	}
	if j.Duration > 0 {
		line += " · " + notify.Duration(j.Duration)
	}
	if j.HasArtifacts {
		line += " · :package: " + humanBytes(j.ArtifactsSize)
	}
	return line
}

// jobMainButton is the most useful action for a job in a list.
func jobMainButton(project string, j gitlab.Job) *slack.ButtonBlockElement {
	ref := jobRef(project, j.ID)
	switch {
	case j.Status == gitlab.StatusManual:
		return notify.Button("job_play", "Play", "job play "+ref)
	case j.Status == gitlab.StatusFailed:
		return notify.Button("job_log", "Log", "job log "+ref)
	}
	return notify.Button("job_show", "Details", "job show "+ref)
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func (r *Router) getJob(ctx context.Context, c *Call) (gitlab.Job, error) {
	id, err := c.ID(0, "job")
	if err != nil {
		return gitlab.Job{}, err
	}
	j, err := c.GitLab.Job(ctx, c.Project, id)
	if err != nil {
		return gitlab.Job{}, notFound(err, "job #%d in %s", id, c.Project)
	}
	return j, nil
}

func (r *Router) jobShow(ctx context.Context, c *Call) (Reply, error) {
	j, err := r.getJob(ctx, c)
	if err != nil {
		return Reply{}, err
	}
	return Reply{Message: JobPreview(c.Project, j)}, nil
}

// JobPreview is a job's summary: status, stage, ref, pipeline, who ran it,
// artifacts and the buttons that fit its state. `job show` answers with it,
// a pasted job link unfurls into it, and the watcher renders it again as
// the job moves (notify.Config.JobPreview).
func JobPreview(project string, j gitlab.Job) notify.Message {
	title := fmt.Sprintf("%s *Job %s* `%s` %s · %s", notify.StatusEmoji(j.Status), jobLink(j), notify.Code(j.Name),
		notify.Escape(notify.StatusWord(j.Status)), notify.Escape(project))
	facts := []string{"stage " + notify.Code(j.Stage), "ref `" + notify.Code(j.Ref) + "`"}
	if j.PipelineID > 0 {
		facts = append(facts, "pipeline #"+strconv.FormatInt(j.PipelineID, 10))
	}
	if j.User.Username != "" {
		facts = append(facts, "by "+notify.Escape(j.User.Username))
	}
	if j.Duration > 0 {
		facts = append(facts, notify.Duration(j.Duration))
	}
	if j.AllowFailure {
		facts = append(facts, "allowed to fail")
	}
	if j.HasArtifacts {
		a := "artifacts " + humanBytes(j.ArtifactsSize)
		if j.ArtifactsExpireAt != nil {
			a += " (expire " + j.ArtifactsExpireAt.UTC().Format("2006-01-02") + ")"
		} else {
			a += " (kept)"
		}
		facts = append(facts, a)
	}
	if j.ErasedAt != nil {
		facts = append(facts, "erased")
	}
	blocks := []slack.Block{notify.Section(title), notify.Context(strings.Join(facts, " · "))}
	if j.Status == gitlab.StatusFailed && j.FailureReason != "" {
		blocks = append(blocks, notify.Section(":x: "+notify.Escape(strings.ReplaceAll(j.FailureReason, "_", " "))))
	}
	if actions := jobActions(project, j); len(actions) > 0 {
		blocks = append(blocks, slack.NewActionBlock("job_actions", actions...))
	}
	return notify.Message{Text: fmt.Sprintf("Job #%d %s %s", j.ID, notify.Code(j.Name), notify.StatusWord(j.Status)), Blocks: blocks}
}

// jobActions are the buttons that fit a job's state.
func jobActions(project string, j gitlab.Job) []slack.BlockElement {
	ref := jobRef(project, j.ID)
	var els []slack.BlockElement
	if j.StartedAt != nil && j.ErasedAt == nil {
		els = append(els, notify.Button("job_log", "Log", "job log "+ref))
	}
	switch {
	case j.Status == gitlab.StatusManual:
		els = append(els, notify.Button("job_play", "Play", "job play "+ref))
	case j.Status.Active():
		els = append(els, notify.Button("job_cancel", "Cancel", "job cancel "+ref))
	case j.Status.Finished():
		els = append(els, notify.Button("job_retry", "Retry", "job retry "+ref))
	}
	if j.HasArtifacts {
		els = append(els, notify.Button("job_artifacts", "Artifacts", "job artifacts "+ref))
		if j.ArtifactsExpireAt != nil {
			els = append(els, notify.Button("job_keep", "Keep artifacts", "job keep "+ref))
		}
	}
	if j.WebURL != "" {
		els = append(els, notify.LinkButton("open_gitlab", "Open in GitLab", j.WebURL))
	}
	return els
}

func (r *Router) jobKeep(ctx context.Context, c *Call) (Reply, error) {
	id, err := c.ID(0, "job")
	if err != nil {
		return Reply{}, err
	}
	j, err := c.GitLab.KeepArtifacts(ctx, c.Project, id)
	if err != nil {
		return Reply{}, notFound(err, "artifacts of job #%d in %s", id, c.Project)
	}
	return TextReply("The artifacts of job %s `%s` will be kept.", jobLink(j), notify.Code(j.Name)), nil
}

func (r *Router) jobRetry(ctx context.Context, c *Call) (Reply, error) {
	id, err := c.ID(0, "job")
	if err != nil {
		return Reply{}, err
	}
	j, err := c.GitLab.RetryJob(ctx, c.Project, id)
	if err != nil {
		return Reply{}, notFound(err, "job #%d in %s", id, c.Project)
	}
	return TextReply("Retrying job `%s` as %s (%s).", notify.Code(j.Name), jobLink(j), notify.Code(notify.StatusWord(j.Status))), nil
}

func (r *Router) jobCancel(ctx context.Context, c *Call) (Reply, error) {
	id, err := c.ID(0, "job")
	if err != nil {
		return Reply{}, err
	}
	j, err := c.GitLab.CancelJob(ctx, c.Project, id)
	if err != nil {
		return Reply{}, notFound(err, "job #%d in %s", id, c.Project)
	}
	return TextReply("Canceled job %s `%s` (now %s).", jobLink(j), notify.Code(j.Name), notify.Code(notify.StatusWord(j.Status))), nil
}

func (r *Router) jobPlay(ctx context.Context, c *Call) (Reply, error) {
	id, err := c.ID(0, "job")
	if err != nil {
		return Reply{}, err
	}
	proj, err := r.project(ctx, c.GitLab, c.Project)
	if err != nil {
		return Reply{}, err
	}
	j, err := c.GitLab.PlayJob(ctx, proj.Path, id, gitlabVars(c.Vars), gitlabInputs(c.Inputs))
	if err != nil {
		return Reply{}, notFound(err, "job #%d in %s", id, proj.Path)
	}
	p, err := c.GitLab.Pipeline(ctx, proj.Path, j.PipelineID)
	if err != nil {
		return Reply{}, fmt.Errorf("pipeline of played job %d: %w", j.ID, err)
	}
	return r.watch(ctx, c, proj, p, "Playing `"+notify.Code(j.Name)+"` in")
}

func (r *Router) jobErase(ctx context.Context, c *Call) (Reply, error) {
	id, err := c.ID(0, "job")
	if err != nil {
		return Reply{}, err
	}
	j, err := c.GitLab.EraseJob(ctx, c.Project, id)
	if err != nil {
		return Reply{}, notFound(err, "job #%d in %s", id, c.Project)
	}
	return TextReply("Erased the log and artifacts of job %s `%s`.", jobLink(j), notify.Code(j.Name)), nil
}
