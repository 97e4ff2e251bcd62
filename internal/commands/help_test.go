package commands

import (
	"strings"
	"testing"

	"github.com/slack-go/slack"
)

// helpLines is the help reply's lines, from its blocks (the fallback text is
// cut at 3,000 characters).
func helpLines(r Reply) []string {
	var lines []string
	for _, b := range r.Blocks {
		if s, ok := b.(*slack.SectionBlock); ok && s.Text != nil {
			lines = append(lines, strings.Split(s.Text.Text, "\n")...)
		}
	}
	return lines
}

// In the full help every command is listed under its own noun's heading:
// `digest delete` under *digest*, not under the *digests* heading that
// happens to come before it in the table.
func TestHelpListsEachCommandUnderItsNoun(t *testing.T) {
	h := newHarness(t)
	r, _ := h.do(viewer, "help")
	heading, listed := "", 0
	for _, l := range helpLines(r) {
		if strings.HasPrefix(l, "*") && strings.HasSuffix(l, "*") && !strings.Contains(l, " ") {
			heading = strings.Trim(l, "*")
			continue
		}
		rest, ok := strings.CutPrefix(l, "`/ci ")
		if !ok {
			continue
		}
		listed++
		usage, _, _ := strings.Cut(rest, "`")
		if n := noun(usage); n != heading {
			t.Errorf("%q is listed under *%s*", l, heading)
		}
	}
	if listed < len(h.router.Commands())-1 {
		t.Errorf("help listed %d commands of %d", listed, len(h.router.Commands()))
	}
}

// `help <noun> <verb>` is what people type after reading a usage line; it
// shows the noun's topic instead of refusing the extra word.
func TestHelpForACommandShowsItsTopic(t *testing.T) {
	h := newHarness(t)
	cases := []struct{ text, want string }{
		{"help pipeline run", "/ci pipeline run [project] &lt;ref&gt;"},
		{"help digest delete", "/ci digest delete &lt;id&gt;"},
		{"help schedule var set", "/ci schedule var set"},
		{"help run", "/ci pipeline run"},
	}
	for _, c := range cases {
		r, out := h.do(viewer, c.text)
		if !strings.Contains(out, c.want) || strings.Contains(out, ":warning:") || r.InChannel {
			t.Errorf("%q answered %s; want the topic with %q, privately", c.text, out, c.want)
		}
	}
	if _, out := h.do(viewer, "help frobnicate now"); !strings.Contains(out, "There is no help topic `frobnicate now`") {
		t.Errorf("help for an unknown command: %s", out)
	}
}

// `help stats` tells the defaults DESIGN §9 sets: 14 days, at most 90, and
// how to leave the chart out.
func TestHelpStatsNamesItsDefaults(t *testing.T) {
	h := newHarness(t)
	_, out := h.do(viewer, "help stats")
	for _, want := range []string{"last 14 days", "up to 90", "chart:no"} {
		if !strings.Contains(out, want) {
			t.Errorf("help stats lacks %q: %s", want, out)
		}
	}
}
