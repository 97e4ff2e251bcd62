package commands

import (
	"crypto/sha256"
	"encoding/hex"
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

// TestJobLogFileIsCleanedUnlessRaw: `file` uploads the log as GitLab's log
// view shows it, `raw:yes` exactly GitLab's bytes; raw: alone or with a
// bad value is refused before anything is downloaded.
func TestJobLogFileIsCleanedUnlessRaw(t *testing.T) {
	const trace = "\x1b[0KRunning with gitlab-runner 17.5.0\x1b[0;m\n" +
		"section_start:1730000000:step_script[collapsed=true]\r\x1b[0K\x1b[0K\x1b[36;1mExecuting \"step_script\" stage of the job script\x1b[0;m\n" +
		"\x1b[32;1m$ make test\x1b[0;m\n" +
		"progress 10%\rprogress 100%\n" +
		"ok  \tpkg\t0.042s\n" +
		"section_end:1730000001:step_script\r\x1b[0K\x1b[31;1mERROR: Job failed: exit code 1\x1b[0;m\n"
	const clean = "Running with gitlab-runner 17.5.0\n" +
		"Executing \"step_script\" stage of the job script\n" +
		"$ make test\n" +
		"progress 100%\n" +
		"ok  \tpkg\t0.042s\n" +
		"ERROR: Job failed: exit code 1\n"
	for _, c := range []struct{ name, opt, want string }{
		{"cleaned by default", "", clean},
		{"raw:yes is byte-identical", " raw:yes", trace},
		{"raw:no is cleaned", " raw:no", clean},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newJobsHarness(t)
			h.sim.SetJobLog(jobsProject, h.test, trace)
			if _, out := h.do(viewer, fmt.Sprintf("job log group/jobs %d file%s", h.test, c.opt)); !strings.Contains(out, "Uploaded") {
				t.Fatalf("reply: %s", out)
			}
			sum := sha256.Sum256([]byte(c.want))
			files := h.fake.Files()
			if len(files) != 1 || files[0].SHA256 != hex.EncodeToString(sum[:]) || files[0].Size != int64(len(c.want)) {
				t.Errorf("files = %+v, want %d bytes of %q", files, len(c.want), c.want)
			}
			if left := h.spoolLeft(); len(left) != 0 {
				t.Errorf("spool not emptied: %v", left)
			}
		})
	}
	for _, c := range []struct{ text, want string }{
		{"job log group/jobs %d raw:yes", "`raw:` goes with `file`"},
		{"job log group/jobs %d file raw:maybe", "say yes or no"},
	} {
		h := newJobsHarness(t)
		text := fmt.Sprintf(c.text, h.test)
		if _, out := h.do(viewer, text); !strings.Contains(out, c.want) {
			t.Errorf("%s: %s", text, out)
		}
		if len(h.fake.Files()) != 0 || h.sim.CountRequests("GET", fmt.Sprintf("/api/v4/projects/group%%2Fjobs/jobs/%d/trace", h.test)) != 0 {
			t.Errorf("%s: a refused command downloaded or uploaded", text)
		}
	}
}
