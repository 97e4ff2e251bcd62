package notify

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/slack-go/slack"

	"github.com/pipebot/pipebot/internal/gitlab"
)

func TestWatchedFailedCardShowsTheLastLinesOfTheFailedJob(t *testing.T) {
	h := newHarness(t, failingJobs)
	id := h.start()
	runToEnd(t, h, id)
	text := blocksText(h.card().Blocks)
	if !contains(text, "ERROR: Job failed: exit code 1", "```", "job log group/app", "job retry group/app") {
		t.Errorf("final card lacks the failed job's log tail and its buttons: %s", text)
	}
	if strings.Contains(text, "\x1b") || strings.Contains(text, "section_start") {
		t.Errorf("raw log markup on the card: %s", text)
	}
}

// traceStub answers JobTrace from a map of logs, or with an error.
type traceStub struct {
	logs  map[int64]string
	err   error
	calls int
}

func (s *traceStub) JobTrace(_ context.Context, _ string, id int64, w io.Writer, max int64) (int64, error) {
	s.calls++
	if s.err != nil {
		return 0, s.err
	}
	log := s.logs[id]
	if max > 0 && int64(len(log)) > max {
		n, _ := io.WriteString(w, log[:max])
		return int64(n), gitlab.ErrTooLarge
	}
	n, err := io.WriteString(w, log)
	return int64(n), err
}

func TestFailedJobTailsReadsAFewSmallLogsOnly(t *testing.T) {
	var jobs []gitlab.Job
	logs := map[int64]string{}
	for i := int64(1); i <= 5; i++ {
		jobs = append(jobs, gitlab.Job{ID: i, Name: fmt.Sprint("job", i), Status: gitlab.StatusFailed})
		logs[i] = fmt.Sprintf("a\nb\nc\nd\ne\nf\ng\nlast of %d\n", i)
	}
	jobs = append(jobs, gitlab.Job{ID: 9, Name: "ok", Status: gitlab.StatusSuccess})
	logs[2] = strings.Repeat("x", cardTailBytes+1)
	stub := &traceStub{logs: logs}
	tails := FailedJobTails(context.Background(), stub, "g/app", jobs)
	if stub.calls != cardTailJobs {
		t.Errorf("read %d logs, want %d", stub.calls, cardTailJobs)
	}
	if got := tails[1]; len(got) != cardTailLines || got[len(got)-1] != "last of 1" {
		t.Errorf("tail of job 1 = %q", got)
	}
	if got := tails[2]; len(got) != 1 || !strings.Contains(got[0], "too long") {
		t.Errorf("tail of a huge log = %q", got)
	}
	if _, ok := tails[4]; ok {
		t.Error("read a log beyond the first few failed jobs")
	}
	if got := FailedJobTails(context.Background(), &traceStub{err: gitlab.ErrUnavailable}, "g/app", jobs); len(got) != 0 {
		t.Errorf("tails despite GitLab errors: %v", got)
	}
}

func TestCardWithManyJobsStaysWithinSlackLimits(t *testing.T) {
	in := failedPipeline()
	in.Jobs = nil
	in.LogTails = map[int64][]string{}
	for i := int64(1); i <= 60; i++ {
		status := gitlab.StatusFailed
		if i%3 == 0 {
			status = gitlab.StatusManual
		}
		name := strings.Repeat("n", 90) + fmt.Sprint(i)
		in.Jobs = append(in.Jobs, gitlab.Job{ID: i, Name: name, Stage: fmt.Sprint("stage", i%7), Status: status,
			FailureReason: "script_failure", HasArtifacts: i%2 == 0, WebURL: fmt.Sprintf("https://gitlab.example.com/g/-/jobs/%d", i)})
		in.LogTails[i] = []string{strings.Repeat("é", 3000), strings.Repeat("`", 500)}
	}
	msg := PipelineCard(in)
	if len(msg.Blocks) > 50 {
		t.Errorf("%d blocks, Slack allows 50", len(msg.Blocks))
	}
	for _, b := range msg.Blocks {
		switch b := b.(type) {
		case *slack.SectionBlock:
			if n := len([]rune(b.Text.Text)); n > 3000 {
				t.Errorf("section of %d characters", n)
			}
		case *slack.ActionBlock:
			if n := len(b.Elements.ElementSet); n > 25 {
				t.Errorf("actions block with %d elements", n)
			}
			for _, e := range b.Elements.ElementSet {
				btn := e.(*slack.ButtonBlockElement)
				if len(btn.Value) > 2000 || len([]rune(btn.Text.Text)) > 75 {
					t.Errorf("button %q too long", btn.Text.Text)
				}
			}
		}
	}
}
