package notify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/slack-go/slack"

	"github.com/pipebot/pipebot/internal/gitlab"
)

// Bounds of the log excerpts on a pipeline card: a card is re-rendered on
// every state change, so it reads only a few small logs.
const (
	cardTailJobs   = 3       // failed jobs whose log is read
	cardTailLines  = 6       // lines shown per job
	cardTailBytes  = 8 << 20 // larger logs are not read for the card
	cardTailBlock  = 1200    // bytes of one excerpt on the card
	cardJobButtons = 12      // job buttons on one card (Slack allows 25 per actions block)
)

// tracer streams job logs.
type tracer interface {
	JobTrace(ctx context.Context, project string, id int64, w io.Writer, max int64) (int64, error)
}

var _ tracer = (*gitlab.Client)(nil)

// FailedJobTails reads the last lines of the logs of a pipeline's first few
// failed jobs, for CardInput.LogTails. A log too large or unreadable gets a
// note instead: the card must render even when GitLab stumbles.
func FailedJobTails(ctx context.Context, t tracer, project string, jobs []gitlab.Job) map[int64][]string {
	failed := failedJobs(jobs)
	if len(failed) == 0 || t == nil {
		return nil
	}
	out := make(map[int64][]string, min(len(failed), cardTailJobs))
	for _, j := range failed[:min(len(failed), cardTailJobs)] {
		tail := NewLogTail(cardTailLines, 200)
		_, err := t.JobTrace(ctx, project, j.ID, tail, cardTailBytes)
		switch {
		case errors.Is(err, gitlab.ErrTooLarge):
			out[j.ID] = []string{"(the log is too long to show here: use the Log button)"}
		case err != nil:
			continue
		default:
			out[j.ID] = tail.Lines()
		}
	}
	return out
}

// failedJobBlocks shows each failed job with its failure reason and, when
// read, the last lines of its log.
func failedJobBlocks(in CardInput, failed []gitlab.Job) []slack.Block {
	var blocks []slack.Block
	var rest []string
	for i, j := range failed {
		line := fmt.Sprintf(":x: %s (%s)", Link(j.WebURL, j.Name), Escape(j.Stage))
		if j.FailureReason != "" {
			line += " — " + Escape(strings.ReplaceAll(j.FailureReason, "_", " "))
		}
		tail := in.LogTails[j.ID]
		if i >= cardTailJobs || len(tail) == 0 {
			rest = append(rest, line)
			continue
		}
		blocks = append(blocks, Section(line+"\n"+CodeBlock(tail, cardTailBlock)))
	}
	if len(rest) > 0 {
		head := "*Failed jobs*"
		if len(blocks) > 0 {
			head = "*Also failed*"
		}
		if len(rest) > 8 {
			rest = append(rest[:8], fmt.Sprintf("…and %d more", len(rest)-8))
		}
		blocks = append(blocks, Section(head+"\n"+strings.Join(rest, "\n")))
	} else if len(blocks) > 0 {
		blocks = append([]slack.Block{Section("*Failed jobs*")}, blocks...)
	}
	return blocks
}

// jobButtons are the per-job actions of a card: Log and Retry for failed
// jobs, Play for manual ones, Artifacts where a job has them.
func jobButtons(in CardInput) []slack.BlockElement {
	var els []slack.BlockElement
	add := func(kind, label string, j gitlab.Job) {
		if len(els) >= cardJobButtons {
			return
		}
		id := strconv.FormatInt(j.ID, 10)
		// plain_text shows < > & literally; they are dropped anyway so that
		// no label can look like markup when copied.
		name := strings.Map(func(r rune) rune {
			if r == '<' || r == '>' || r == '&' {
				return -1
			}
			return r
		}, j.Name)
		els = append(els, Button("job_"+kind+"_"+id, truncate(label+" "+name, 75), "job "+kind+" "+in.Project+" "+id))
	}
	for _, j := range failedJobs(in.Jobs) {
		add("log", "Log", j)
		add("retry", "Retry", j)
	}
	for _, j := range manualJobs(in.Jobs) {
		add("play", "Play", j)
	}
	for _, j := range latestJobs(in.Jobs) {
		if j.HasArtifacts {
			add("artifacts", "Artifacts", j)
		}
	}
	return els
}
