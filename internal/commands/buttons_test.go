package commands

import (
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/pipebot/pipebot/internal/gitlab"
	"github.com/pipebot/pipebot/internal/notify"
	"github.com/pipebot/pipebot/internal/state"
)

// buttonValues collects the commands the buttons of blocks carry (link
// buttons carry none).
func buttonValues(blocks []slack.Block) []string {
	var out []string
	add := func(e slack.BlockElement) {
		if b, ok := e.(*slack.ButtonBlockElement); ok && b.URL == "" {
			out = append(out, b.Value)
		}
	}
	for _, b := range blocks {
		switch b := b.(type) {
		case *slack.ActionBlock:
			for _, e := range b.Elements.ElementSet {
				add(e)
			}
		case *slack.SectionBlock:
			if b.Accessory != nil && b.Accessory.ButtonElement != nil {
				add(b.Accessory.ButtonElement)
			}
		}
	}
	return out
}

// A button is a typed command: every button pipebot renders on a card must
// name a command of the table with arguments it accepts.
func TestEveryCardButtonRunsARealCommand(t *testing.T) {
	h := newHarness(t)
	if _, err := h.store.UpdateChannel(chanID, func(c *state.Channel) error { c.DefaultProject = "group/app"; return nil }); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	base := gitlab.Pipeline{ID: 42, Ref: "main", Source: "push", WebURL: "https://gitlab.example.com/group/app/-/pipelines/42"}
	jobs := []gitlab.Job{
		{ID: 1, Name: "build", Stage: "build", Status: gitlab.StatusSuccess, HasArtifacts: true},
		{ID: 2, Name: "test", Stage: "test", Status: gitlab.StatusFailed, FailureReason: "script_failure"},
		{ID: 3, Name: "deploy", Stage: "deploy", Status: gitlab.StatusManual},
	}
	seen := 0
	for _, st := range []gitlab.Status{gitlab.StatusFailed, gitlab.StatusRunning, gitlab.StatusManual, gitlab.StatusSuccess, gitlab.StatusCanceled} {
		p := base
		p.Status = st
		msg := notify.PipelineCard(notify.CardInput{Project: "group/app", Pipeline: p, Jobs: jobs, Now: now,
			LogTails: map[int64][]string{2: {"FAIL test"}}})
		for _, v := range buttonValues(msg.Blocks) {
			seen++
			tokens, err := lexTokenize(v)
			if err != nil {
				t.Errorf("%s card: button %q does not tokenize: %v", st, v, err)
				continue
			}
			cmd, rest := h.router.lookup(tokens)
			if cmd == nil {
				t.Errorf("%s card: button %q names no command", st, v)
				continue
			}
			if _, err := h.router.parseCall(cmd, h.req(admin, v), rest); err != nil {
				t.Errorf("%s card: button %q does not parse: %v", st, v, err)
			}
		}
	}
	if seen < 10 {
		t.Fatalf("only %d buttons seen; the card lost its buttons", seen)
	}
}
