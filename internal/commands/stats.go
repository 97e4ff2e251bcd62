package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/pipebot/pipebot/internal/insights"
	"github.com/pipebot/pipebot/internal/notify"
	"github.com/pipebot/pipebot/internal/slackapp"
)

// reportBuilder builds CI reports (the insights.Builder).
type reportBuilder interface {
	Build(ctx context.Context, q insights.Query, progress insights.Progress) (insights.Report, insights.Fetched, error)
}

var _ reportBuilder = (*insights.Builder)(nil)

// channelPoster posts and updates messages in a channel: the report's
// progress and the report itself.
type channelPoster interface {
	Post(ctx context.Context, channel string, m notify.Message) (string, error)
	Update(ctx context.Context, channel, ts string, m notify.Message) error
}

var _ channelPoster = (*notify.Slack)(nil)

const (
	// statsTimeout bounds building a report: a first report over a busy
	// project reads a thousand pipelines' jobs, longer than a command's
	// timeout. What it read is kept either way.
	statsTimeout = 10 * time.Minute
	// progressFrom is how many pipelines a report must read before it
	// shows its progress; it is updated about ten times.
	progressFrom = 100
)

func (r *Router) statsCommands() []*Command {
	return []*Command{{
		Name: "stats", Args: "[project] [ref:] [days:] [source:] [chart:no]",
		Summary: fmt.Sprintf("Pass rate, durations, slowest, failing and flaky jobs over the last %d days (`days:` up to %d), with a chart unless `chart:no`.",
			insights.DefaultDays, insights.MaxDays),
		Examples: []string{"stats group/app", "stats group/app ref:main days:30", "stats group/app source:schedule chart:no"},
		Role:     RoleViewer, Project: true, Options: []string{"ref", "days", "source", "chart"},
		Run: r.stats,
	}}
}

// daysOpt reads days: (1..MaxDays), default def.
func daysOpt(c *Call, def int) (int, error) {
	v, ok := c.Opts["days"]
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, usageError(c.Cmd, "`days:%s` needs a number of days from 1 to %d.", notify.Code(truncateWord(v)), insights.MaxDays)
	}
	if n > insights.MaxDays {
		return 0, usageError(c.Cmd, "`days:%d` reaches too far back: at most %d days.", n, insights.MaxDays)
	}
	return n, nil
}

func (r *Router) stats(ctx context.Context, c *Call) (Reply, error) {
	if r.deps.Insights == nil {
		return Reply{}, userErrorf("CI stats are not available in this pipebot.")
	}
	days, err := daysOpt(c, insights.DefaultDays)
	if err != nil {
		return Reply{}, err
	}
	chart, err := parseBool(c, "chart")
	if err != nil {
		return Reply{}, err
	}
	q := insights.Query{Project: c.Project, Ref: c.Opt("ref", ""), Source: c.Opt("source", ""), Days: days, Now: r.deps.Now()}
	if c.Actor.Person() {
		// Read as the person who asked, never through pipebot's token.
		gl, ok := c.GitLab.(insights.Reader)
		if !ok {
			return Reply{}, fmt.Errorf("stats as %s: the client cannot list pipelines", c.Actor)
		}
		q.GitLab = gl
	}
	where := statsPlace{channel: c.Req.ChannelID}
	if c.Req.Kind == slackapp.KindAction {
		// Asked from a card: the report and its chart go into its thread.
		where.thread = c.Req.ThreadTS
		if where.thread == "" {
			where.thread = c.Req.MessageTS
		}
	}
	where.poster, _ = r.deps.Slack.(channelPoster)
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), statsTimeout)
	defer cancel()
	prog := newStatsProgress(bctx, where, q)
	rep, _, err := r.deps.Insights.Build(bctx, q, prog.report)
	prog.stop()
	if err != nil {
		prog.fail(bctx)
		return Reply{}, notFound(err, "the project %s", c.Project)
	}
	msg := statsMessage("CI stats", rep)
	wantChart := chart == nil || *chart
	ts, err := where.show(bctx, prog.ts(), msg)
	if err != nil {
		if !errors.Is(err, notify.ErrNotInChannel) && !errors.Is(err, notify.ErrChannelNotFound) && !errors.Is(err, errNoPoster) {
			return Reply{}, fmt.Errorf("post stats: %w", err)
		}
		// Not in the channel (a DM, a private channel): the report comes
		// back through response_url instead, and a file cannot follow it.
		if wantChart {
			msg.Blocks = append(msg.Blocks, notify.Context("Invite me (`/invite @pipebot`) to get the chart here too."))
		}
		return Reply{InChannel: true, Message: msg}, nil
	}
	// The chart follows the report; a note about it is added to the report.
	if wantChart {
		if note := r.uploadChart(bctx, where, rep, c.Req.UserID); note != "" {
			msg.Blocks = append(msg.Blocks, notify.Context(note))
			if _, err := where.show(bctx, ts, msg); err != nil {
				r.log.Warn().Err(err).Msg("add chart note to stats")
			}
		}
	}
	return Reply{None: true}, nil
}

var errNoPoster = errors.New("no channel poster")

// statsPlace is where a report goes: a channel, or a card's thread.
type statsPlace struct {
	channel, thread string
	poster          channelPoster
}

// show posts m, or replaces the message at ts with it, and returns its ts.
func (p statsPlace) show(ctx context.Context, ts string, m notify.Message) (string, error) {
	if p.poster == nil {
		return "", errNoPoster
	}
	m.ThreadTS = p.thread
	if ts != "" {
		return ts, p.poster.Update(ctx, p.channel, ts, m)
	}
	return p.poster.Post(ctx, p.channel, m)
}

// uploadChart draws the report's chart and uploads it where the report
// goes; it returns a line for the report when something is worth saying
// (the chart could not be shared, or where demo saved it).
func (r *Router) uploadChart(ctx context.Context, where statsPlace, rep insights.Report, user string) string {
	png, _, err := insights.Chart(rep)
	if err != nil {
		r.log.Warn().Err(err).Str("project", rep.Query.Project).Msg("draw chart")
		return "The chart could not be drawn."
	}
	var saved string
	if r.deps.ChartDir != "" {
		name := filepath.Join(r.deps.ChartDir, fmt.Sprintf("ci-stats-%s-%dd-%s.png", safeName(rep.Query.Project), rep.Query.Days, rep.Query.Now.UTC().Format("20060102-150405")))
		err := os.MkdirAll(r.deps.ChartDir, 0o755)
		if err == nil {
			err = os.WriteFile(name, png, 0o644)
		}
		if err != nil {
			r.log.Warn().Err(err).Msg("save chart")
		} else {
			saved = "Chart saved to " + name
		}
	}
	if r.deps.Uploads == nil {
		return saved
	}
	// The size is known, so the upload streams (notify.Relay) and a 429
	// from Slack is retried from the spool copy.
	_, err = r.deps.Uploads.Relay(ctx, r.deps.Spool, notify.Upload{
		Channel: where.channel, ThreadTS: where.thread, Size: int64(len(png)),
		Filename: fmt.Sprintf("ci-stats-%s-%dd.png", safeName(rep.Query.Project), rep.Query.Days),
		Title:    fmt.Sprintf("CI stats of %s, last %d days", rep.Query.Project, rep.Query.Days),
	}, func(w io.Writer) (int64, error) {
		n, err := w.Write(png)
		return int64(n), err
	})
	switch {
	case err == nil:
	case errors.Is(err, notify.ErrNotInChannel), errors.Is(err, notify.ErrChannelNotFound):
		return joinNotes(saved, "Invite me (`/invite @pipebot`) to get the chart here too.")
	case errors.Is(err, notify.ErrUploadsRefused):
		return joinNotes(saved, "This workspace doesn't let me upload the chart.")
	default:
		r.log.Warn().Err(err).Str("user", user).Msg("upload chart")
		return joinNotes(saved, "The chart could not be uploaded.")
	}
	return saved
}

func joinNotes(a, b string) string {
	if a == "" {
		return b
	}
	return a + " · " + b
}

// statsProgress shows a long report's progress in a message it posts once
// and then updates, from its own goroutine so that Slack's pace never slows
// the reading; updates that pile up are coalesced to the latest.
type statsProgress struct {
	where statsPlace
	q     insights.Query
	next  chan [2]int
	done  chan struct{}

	mu      sync.Mutex
	msgTS   string
	stopped bool
}

func newStatsProgress(ctx context.Context, where statsPlace, q insights.Query) *statsProgress {
	p := &statsProgress{where: where, q: q, next: make(chan [2]int, 1), done: make(chan struct{})}
	go p.loop(ctx)
	return p
}

// report is the insights.Progress: it passes on the start and about every
// tenth of the way.
func (p *statsProgress) report(read, total int) {
	if total < progressFrom || p.where.poster == nil {
		return
	}
	step := max(progressFrom, total/10)
	if read != 0 && read%step != 0 {
		return
	}
	select {
	case <-p.next:
	default:
	}
	p.next <- [2]int{read, total}
}

func (p *statsProgress) loop(ctx context.Context) {
	defer close(p.done)
	for v := range p.next {
		m := progressMessage(p.q, v[0], v[1])
		m.ThreadTS = p.where.thread
		p.mu.Lock()
		ts := p.msgTS
		p.mu.Unlock()
		if ts == "" {
			ts, err := p.where.poster.Post(ctx, p.where.channel, m)
			if err != nil {
				return // not in the channel: no progress, the report still comes
			}
			p.mu.Lock()
			p.msgTS = ts
			p.mu.Unlock()
			continue
		}
		_ = p.where.poster.Update(ctx, p.where.channel, ts, m)
	}
}

// stop waits for the last progress update to be shown.
func (p *statsProgress) stop() {
	p.mu.Lock()
	if !p.stopped {
		p.stopped = true
		close(p.next)
	}
	p.mu.Unlock()
	<-p.done
}

// ts is the progress message, "" when none was posted.
func (p *statsProgress) ts() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.msgTS
}

// fail turns the progress message, if any, into a note that the report
// stopped; the error itself reaches the user as the command's answer.
func (p *statsProgress) fail(ctx context.Context) {
	if ts := p.ts(); ts != "" {
		m := TextReply(":warning: Reading the CI history of %s stopped; what was read is kept, so asking again continues from there.", notify.Escape(p.q.Project)).Message
		m.ThreadTS = p.where.thread
		_ = p.where.poster.Update(ctx, p.where.channel, ts, m)
	}
}
