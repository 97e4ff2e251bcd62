package commands

import (
	"context"
	"testing"
	"time"

	"github.com/pipebot/pipebot/internal/state"
)

// BenchmarkHomeView renders a full Home: 20 pipelines and 1,000
// subscriptions, truncated to Slack's 100 blocks.
func BenchmarkHomeView(b *testing.B) {
	in := homeInput{Role: RoleOperator, Identity: GitLabIdentity{Username: "pipebot"}, Pipelines: manyPipelines(state.MaxHomePipelines),
		Subs: manySubs(1000), Now: time.Now()}
	b.ReportAllocs()
	for b.Loop() {
		if v := homeView(in); len(v.Blocks.BlockSet) != maxHomeBlocks {
			b.Fatalf("%d blocks", len(v.Blocks.BlockSet))
		}
	}
}

// BenchmarkHomePublish is one re-publish as a pipeline change causes it:
// read the user's record and 1,000 subscriptions from bbolt, render, and
// views.publish over loopback HTTP to the Slack fake.
func BenchmarkHomePublish(b *testing.B) {
	h, _ := homeHarness(b)
	for i := range 1000 {
		s := manySubs(1000)[i]
		s.Target = state.ProjectTarget(int64(i + 1))
		if err := h.store.PutSubscription(s); err != nil {
			b.Fatal(err)
		}
	}
	for _, p := range manyPipelines(state.MaxHomePipelines) {
		if _, err := h.store.AddHomePipeline(operator, p); err != nil {
			b.Fatal(err)
		}
	}
	h.openHome(operator, "D0OPER")
	b.ReportAllocs()
	for b.Loop() {
		h.router.publishHome(context.Background(), "", operator, "")
	}
	if n := len(h.fake.CallsOf("views.publish")); n < 2 {
		b.Fatalf("%d publishes", n)
	}
}
