package notify

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/pipebot/pipebot/internal/gitlab"
)

// Metadata event types pipebot stamps on its messages so that, after a crash,
// it can find what it already posted instead of posting it again.
const (
	MetaCard  = "pipebot_card"
	MetaFinal = "pipebot_final"
)

// CardInput is everything a pipeline card shows.
type CardInput struct {
	Project   string // path_with_namespace
	Pipeline  gitlab.Pipeline
	Jobs      []gitlab.Job
	Requester string // Slack user id of whoever started it from Slack, if any
	Now       time.Time
	// LogTails are the last lines of failed jobs' logs by job id, from
	// FailedJobTails; whoever renders a failed pipeline fills them.
	LogTails map[int64][]string
	// Children are the pipeline's child pipelines (children.go).
	Children []ChildPipeline
}

// StatusEmoji is the emoji pipebot shows for a GitLab status.
func StatusEmoji(s gitlab.Status) string {
	switch s {
	case gitlab.StatusSuccess:
		return ":white_check_mark:"
	case gitlab.StatusFailed:
		return ":x:"
	case gitlab.StatusCanceled, gitlab.StatusCanceling:
		return ":no_entry_sign:"
	case gitlab.StatusRunning:
		return ":large_blue_circle:"
	case gitlab.StatusPending, gitlab.StatusCreated, gitlab.StatusWaitingForResource, gitlab.StatusPreparing:
		return ":hourglass_flowing_sand:"
	case gitlab.StatusManual:
		return ":double_vertical_bar:"
	case gitlab.StatusSkipped:
		return ":white_circle:"
	case gitlab.StatusScheduled:
		return ":alarm_clock:"
	}
	return ":grey_question:"
}

// StatusWord is the word pipebot shows for a GitLab status; GitLab's UI says
// "passed" for success and "blocked" for a pipeline waiting on a manual job.
func StatusWord(s gitlab.Status) string {
	switch s {
	case gitlab.StatusSuccess:
		return "passed"
	case gitlab.StatusManual:
		return "blocked"
	case gitlab.StatusWaitingForResource:
		return "waiting for resource"
	case "":
		return "unknown"
	}
	return string(s)
}

// Escape makes text from GitLab safe inside Slack mrkdwn: Slack reads
// &, < and > as control characters
// (https://api.slack.com/reference/surfaces/formatting#escaping).
func Escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// Code makes text from GitLab or a user safe inside an inline code span
// (`…`): it escapes like Escape, and since a span ends at the next backtick
// whatever follows it, backticks become the look-alike ˋ (U+02CB); line
// breaks, which also end a span, become spaces.
func Code(s string) string {
	return codeReplacer.Replace(s)
}

var codeReplacer = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "`", "\u02cb", "\r\n", " ", "\n", " ", "\r", " ")

// Link is a Slack mrkdwn link with escaped text; without a URL it is the text.
func Link(u, text string) string {
	if u == "" || strings.ContainsAny(u, "<>| \n") {
		return Escape(text)
	}
	return "<" + u + "|" + Escape(strings.ReplaceAll(text, "|", "¦")) + ">"
}

// Duration renders d compactly: 45s, 3m 12s, 1h 4m.
func Duration(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d <= 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm %ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh %dm", int(d.Hours()), int(d.Minutes())%60)
}

// Ago renders how long before now t was: "5m ago".
func Ago(now, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

func pipelineDuration(p gitlab.Pipeline, now time.Time) time.Duration {
	if p.Duration > 0 {
		return p.Duration
	}
	if p.StartedAt != nil {
		end := now
		if p.FinishedAt != nil {
			end = *p.FinishedAt
		}
		return end.Sub(*p.StartedAt)
	}
	return 0
}

// Button builds a button whose value is the pipebot command it runs, so a
// click goes through the same router, as the clicking user, as typing it.
func Button(actionID, text, command string) *slack.ButtonBlockElement {
	return slack.NewButtonBlockElement(actionID, command, slack.NewTextBlockObject(slack.PlainTextType, text, false, false))
}

// LinkButton builds a button that opens url.
func LinkButton(actionID, text, url string) *slack.ButtonBlockElement {
	b := slack.NewButtonBlockElement(actionID, "", slack.NewTextBlockObject(slack.PlainTextType, text, false, false))
	b.URL = url
	return b
}

func mrkdwn(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, s, false, false)
}

// Section is a mrkdwn section block.
func Section(text string) *slack.SectionBlock {
	return slack.NewSectionBlock(mrkdwn(truncate(text, 3000)), nil, nil)
}

// Context is a context block of mrkdwn elements.
func Context(texts ...string) *slack.ContextBlock {
	els := make([]slack.MixedElement, 0, len(texts))
	for _, t := range texts {
		els = append(els, mrkdwn(truncate(t, 2000)))
	}
	return slack.NewContextBlock("", els...)
}

// truncate cuts s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8Start(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// ProjectPipelineRef is how commands on a card name the pipeline.
func ProjectPipelineRef(project string, id int64) string {
	return project + " " + strconv.FormatInt(id, 10)
}

// PipelineCard renders the pipeline card of DESIGN §3: status, ref, source,
// who started it, duration, stages, failed jobs, and the buttons that fit the
// pipeline's state.
func PipelineCard(in CardInput) Message {
	p := in.Pipeline
	now := in.Now
	if now.IsZero() {
		now = time.Now()
	}
	title := fmt.Sprintf("%s *%s* %s · %s",
		StatusEmoji(p.Status),
		Link(p.WebURL, "#"+strconv.FormatInt(p.ID, 10)),
		Escape(StatusWord(p.Status)),
		Escape(in.Project))
	blocks := []slack.Block{Section(title)}

	var facts []string
	facts = append(facts, "ref `"+Code(p.Ref)+"`")
	if p.Source != "" {
		facts = append(facts, "source "+Escape(p.Source))
	}
	if p.User.Username != "" {
		facts = append(facts, "by "+Escape(p.User.Username))
	}
	if in.Requester != "" {
		facts = append(facts, "requested in Slack by <@"+in.Requester+">")
	}
	if d := pipelineDuration(p, now); d > 0 {
		facts = append(facts, Duration(d))
	}
	if p.SHA != "" {
		facts = append(facts, "`"+Code(shortSHA(p.SHA))+"`")
	}
	blocks = append(blocks, Context(strings.Join(facts, " · ")))

	if stages := stageLine(in.Jobs); stages != "" {
		blocks = append(blocks, Section(stages))
	}
	if line := childLine(in.Children); line != "" {
		blocks = append(blocks, Section(line))
	}
	if p.YAMLErrors != "" {
		blocks = append(blocks, Section(":warning: "+Escape(p.YAMLErrors)))
	}
	if failed := failedJobs(in.Jobs); len(failed) > 0 {
		blocks = append(blocks, failedJobBlocks(in, failed)...)
	}
	if manual := manualJobs(in.Jobs); p.Status == gitlab.StatusManual && len(manual) > 0 {
		names := make([]string, 0, len(manual))
		for _, j := range manual {
			names = append(names, "`"+Code(j.Name)+"`")
		}
		blocks = append(blocks, Section(":double_vertical_bar: Blocked, waiting for a manual job: "+strings.Join(names, ", ")))
	}

	if jobs := jobButtons(in); len(jobs) > 0 {
		blocks = append(blocks, slack.NewActionBlock("job_actions", jobs...))
	}
	if actions := cardActions(in); len(actions) > 0 {
		blocks = append(blocks, slack.NewActionBlock("pipeline_actions", actions...))
	}
	return Message{
		Text:   fmt.Sprintf("Pipeline #%d %s on %s (%s)", p.ID, StatusWord(p.Status), Code(p.Ref), Escape(in.Project)),
		Blocks: blocks,
	}
}

func cardActions(in CardInput) []slack.BlockElement {
	p := in.Pipeline
	ref := ProjectPipelineRef(in.Project, p.ID)
	var els []slack.BlockElement
	switch p.Status {
	case gitlab.StatusFailed, gitlab.StatusCanceled:
		els = append(els, Button("pipeline_retry", "Retry", "pipeline retry "+ref))
	}
	if p.Status.Active() || p.Status == gitlab.StatusManual {
		els = append(els, Button("pipeline_cancel", "Cancel", "pipeline cancel "+ref))
	}
	els = append(els, Button("job_list", "Jobs", "job list "+in.Project+" pipeline:"+strconv.FormatInt(p.ID, 10)))
	if p.WebURL != "" {
		els = append(els, LinkButton("open_gitlab", "Open in GitLab", p.WebURL))
	}
	return els
}

// FinalReply is the thread reply posted once when a watched pipeline ends:
// it mentions whoever started it and names the failed jobs.
func FinalReply(in CardInput) Message {
	p := in.Pipeline
	var b strings.Builder
	if in.Requester != "" {
		b.WriteString("<@" + in.Requester + "> ")
	}
	fmt.Fprintf(&b, "%s pipeline %s on `%s` %s", StatusEmoji(p.Status),
		Link(p.WebURL, "#"+strconv.FormatInt(p.ID, 10)), Code(p.Ref), Escape(StatusWord(p.Status)))
	if d := pipelineDuration(p, in.Now); d > 0 {
		b.WriteString(" after " + Duration(d))
	}
	b.WriteString(".")
	if failed := failedJobs(in.Jobs); len(failed) > 0 {
		names := make([]string, 0, len(failed))
		for _, j := range failed {
			n := Link(j.WebURL, j.Name)
			if j.FailureReason != "" {
				n += " (" + Escape(strings.ReplaceAll(j.FailureReason, "_", " ")) + ")"
			}
			names = append(names, n)
		}
		b.WriteString(" Failed: " + strings.Join(names, ", ") + ".")
	}
	return Message{
		Text:   fmt.Sprintf("Pipeline #%d %s", p.ID, StatusWord(p.Status)),
		Blocks: []slack.Block{Section(b.String())},
	}
}

func shortSHA(s string) string {
	if len(s) > 8 {
		return s[:8]
	}
	return s
}

// latestJobs keeps the newest job per name: a retried job's old attempt is
// superseded.
func latestJobs(jobs []gitlab.Job) []gitlab.Job {
	idx := make(map[string]int, len(jobs))
	var out []gitlab.Job
	for _, j := range jobs {
		if i, ok := idx[j.Name]; ok {
			if j.ID > out[i].ID {
				out[i] = j
			}
			continue
		}
		idx[j.Name] = len(out)
		out = append(out, j)
	}
	return out
}

func failedJobs(jobs []gitlab.Job) []gitlab.Job {
	var out []gitlab.Job
	for _, j := range latestJobs(jobs) {
		if j.Status == gitlab.StatusFailed && !j.AllowFailure {
			out = append(out, j)
		}
	}
	return out
}

func manualJobs(jobs []gitlab.Job) []gitlab.Job {
	var out []gitlab.Job
	for _, j := range latestJobs(jobs) {
		if j.Status == gitlab.StatusManual {
			out = append(out, j)
		}
	}
	return out
}

// stageStatus folds the jobs of one stage into one status, the way GitLab's
// pipeline graph does.
func stageStatus(jobs []gitlab.Job) gitlab.Status {
	has := map[gitlab.Status]bool{}
	for _, j := range jobs {
		s := j.Status
		if s == gitlab.StatusFailed && j.AllowFailure {
			s = gitlab.StatusSuccess
		}
		has[s] = true
	}
	for _, s := range []gitlab.Status{gitlab.StatusRunning, gitlab.StatusCanceling, gitlab.StatusPending, gitlab.StatusPreparing,
		gitlab.StatusWaitingForResource, gitlab.StatusFailed, gitlab.StatusCanceled, gitlab.StatusManual, gitlab.StatusScheduled,
		gitlab.StatusCreated, gitlab.StatusSuccess, gitlab.StatusSkipped} {
		if has[s] {
			return s
		}
	}
	return ""
}

func stageLine(jobs []gitlab.Job) string {
	if len(jobs) == 0 {
		return ""
	}
	var order []string
	byStage := map[string][]gitlab.Job{}
	// GitLab lists jobs newest first; stages appear in pipeline order when
	// walked by ascending job id.
	latest := latestJobs(jobs)
	sorted := make([]gitlab.Job, len(latest))
	copy(sorted, latest)
	for i := 1; i < len(sorted); i++ {
		for k := i; k > 0 && sorted[k].ID < sorted[k-1].ID; k-- {
			sorted[k], sorted[k-1] = sorted[k-1], sorted[k]
		}
	}
	for _, j := range sorted {
		if _, ok := byStage[j.Stage]; !ok {
			order = append(order, j.Stage)
		}
		byStage[j.Stage] = append(byStage[j.Stage], j)
	}
	parts := make([]string, 0, len(order))
	for _, st := range order {
		parts = append(parts, StatusEmoji(stageStatus(byStage[st]))+" "+Code(st))
	}
	return strings.Join(parts, "  →  ")
}
