package commands

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var lastLines = regexp.MustCompile(`last (\d+) lines`)

// TestJobLogHeaderCountsTheLinesShown: the "last N lines" of `job log` is
// the number of log lines the code blocks hold, even when escaping and
// defused backticks make the lines grow past the blocks' budget.
func TestJobLogHeaderCountsTheLinesShown(t *testing.T) {
	cases := []struct {
		name  string
		line  string
		count int
		opt   string
	}{
		{"plain lines", "compiling module", 60, ""},
		{"lines full of backticks", strings.Repeat("`", 300), 100, " lines:100"},
		{"backticks and ampersands", strings.Repeat("`&", 150), 200, " lines:200"},
		{"few short lines", "ok", 5, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newJobsHarness(t)
			var log strings.Builder
			for i := range c.count {
				fmt.Fprintf(&log, "%s %d\n", c.line, i)
			}
			h.sim.SetJobLog(jobsProject, h.test, log.String())
			r := h.router.Dispatch(t.Context(), h.req(viewer, fmt.Sprintf("job log group/jobs %d%s", h.test, c.opt)))
			texts := replyMrkdwn(t, r)
			m := lastLines.FindStringSubmatch(strings.Join(texts, "\n"))
			if m == nil {
				t.Fatalf("no line count in %q", texts)
			}
			claimed, _ := strconv.Atoi(m[1])
			shown := 0
			last := ""
			for _, s := range texts[1:] {
				if !strings.HasPrefix(s, "```") {
					continue
				}
				if len(s) > 3000 {
					t.Errorf("section of %d bytes", len(s))
				}
				for _, l := range strings.Split(strings.Trim(s, "`\n"), "\n") {
					if l == "…" {
						t.Errorf("a section dropped lines: %q", s[:80])
						continue
					}
					shown++
					last = l
				}
			}
			if claimed != shown || shown == 0 {
				t.Errorf("header says last %d lines, the blocks show %d", claimed, shown)
			}
			if want := fmt.Sprintf(" %d", c.count-1); !strings.HasSuffix(last, want) {
				t.Errorf("the newest line is not shown last: %q", last)
			}
		})
	}
}
