package commands

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/pipebot/pipebot/internal/gitlab/simulator"
)

// BenchmarkVarList500 measures `var list` of a project with 500 variables
// (five pages from GitLab) through the real client and the simulator.
func BenchmarkVarList500(b *testing.B) {
	h := newHarness(&testing.T{})
	for i := range 500 {
		h.sim.AddVariable(7, simulator.VariableSpec{Key: fmt.Sprintf("KEY_%03d", i), Value: "value", Masked: i%2 == 0})
	}
	req := h.req(operator, "var list group/app")
	b.ReportAllocs()
	for b.Loop() {
		r := h.router.Dispatch(context.Background(), req)
		if out := replyText(r); !strings.Contains(out, "KEY_499") {
			b.Fatalf("list lacks the last key: %d bytes", len(out))
		}
	}
}
