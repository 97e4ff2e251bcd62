package commands

import (
	"context"
	"testing"

	"github.com/pipebot/pipebot/internal/identity"
)

// benchCommand dispatches one list command (one GitLab request over
// loopback HTTP to the simulator) as user in mode. The difference between
// the bot and linked figures is what acting as the person costs on a
// warm link: reading and opening the link, and the bearer header.
func benchCommand(b *testing.B, mode identity.Mode) {
	h := newIDHarness(b, mode)
	if mode == identity.ModeLinked {
		h.link(slackBob, glBob)
	}
	req := h.req(slackBob, "pipelines group/protected limit:1")
	ctx := context.Background()
	if o := outcome(replyText(h.router.Dispatch(ctx, req))); o != "ok" {
		b.Fatalf("command: %s", o)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		h.router.Dispatch(ctx, req)
	}
}

func BenchmarkCommandAsBot(b *testing.B)        { benchCommand(b, identity.ModeBot) }
func BenchmarkCommandAsLinkedUser(b *testing.B) { benchCommand(b, identity.ModeLinked) }
func BenchmarkCommandAsSudoUser(b *testing.B)   { benchCommand(b, identity.ModeSudo) }
