package commands

import (
	"regexp"
	"strings"
	"testing"
)

// rawAngle finds a "<" that Slack would read as the start of a link or
// mention although pipebot meant a placeholder such as <ref>: Slack's
// mrkdwn needs &lt; and &gt; for literal angle brackets, even in code.
var rawAngle = regexp.MustCompile(`<[a-z][a-z_ ]*>`)

// Placeholders in pipebot's own sentences reach Slack escaped, as the
// usage lines do: `scope:&lt;environment&gt;`, not `scope:<environment>`.
func TestPlaceholdersInRepliesAreEscapedForSlack(t *testing.T) {
	h := newHarness(t)
	for _, text := range []string{"var set group/app ZONE=one", "var set group/app ZONE=two scope:production"} {
		if _, out := h.do(admin, text); !strings.Contains(out, "Created `ZONE`") {
			t.Fatalf("%s: %s", text, out)
		}
	}
	cases := []struct{ text, want string }{
		{`trigger create group/app "ci"`, "trigger run group/app 1 &lt;ref&gt;"},
		{"var show group/app ZONE", "`scope:&lt;environment&gt;`"},
		{`subscribe "not a project"`, "`group:&lt;group&gt;`"},
		{`var list "not a project"`, "`group:&lt;path&gt;`"},
		{"var list", "`group:&lt;path&gt;`"},
	}
	for _, c := range cases {
		r, _ := h.do(admin, c.text)
		if !strings.Contains(r.Text, c.want) {
			t.Errorf("%s: reply %q lacks %q", c.text, r.Text, c.want)
		}
		if m := rawAngle.FindString(r.Text); m != "" {
			t.Errorf("%s: reply %q sends %s to Slack unescaped", c.text, r.Text, m)
		}
	}
}
