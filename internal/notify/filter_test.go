package notify

import (
	"slices"
	"testing"

	"github.com/pipebot/pipebot/internal/gitlab"
)

func TestFilterTable(t *testing.T) {
	type pipe struct {
		status      gitlab.Status
		prev        string
		ref, source string
		user        string
	}
	cases := []struct {
		name                  string
		on, ref, source, user string
		p                     pipe
		want                  bool
	}{
		{"default hears a failure", "", "", "", "", pipe{gitlab.StatusFailed, "", "main", "push", "alice"}, true},
		{"default ignores a plain success", "", "", "", "", pipe{gitlab.StatusSuccess, "success", "main", "push", "alice"}, false},
		{"default hears fixed", "", "", "", "", pipe{gitlab.StatusSuccess, "failed", "main", "push", "alice"}, true},
		{"default hears manual", "", "", "", "", pipe{gitlab.StatusManual, "", "main", "push", "alice"}, true},
		{"default ignores running", "", "", "", "", pipe{gitlab.StatusRunning, "", "main", "push", "alice"}, false},
		{"success", "success", "", "", "", pipe{gitlab.StatusSuccess, "", "main", "push", "a"}, true},
		{"canceled", "canceled", "", "", "", pipe{gitlab.StatusCanceled, "", "main", "push", "a"}, true},
		{"canceled is not failed", "failed", "", "", "", pipe{gitlab.StatusCanceled, "", "main", "push", "a"}, false},
		{"broken after green", "broken", "", "", "", pipe{gitlab.StatusFailed, "success", "main", "push", "a"}, true},
		{"not broken after red", "broken", "", "", "", pipe{gitlab.StatusFailed, "failed", "main", "push", "a"}, false},
		{"fixed needs a red before", "fixed", "", "", "", pipe{gitlab.StatusSuccess, "", "main", "push", "a"}, false},
		{"running", "running", "", "", "", pipe{gitlab.StatusRunning, "", "main", "push", "a"}, true},
		{"created covers pending", "created", "", "", "", pipe{gitlab.StatusPending, "", "main", "push", "a"}, true},
		{"created", "created", "", "", "", pipe{gitlab.StatusCreated, "", "main", "push", "a"}, true},
		{"ref glob matches", "failed", "main,release/*", "", "", pipe{gitlab.StatusFailed, "", "release/1.2", "push", "a"}, true},
		{"ref glob misses", "failed", "main,release/*", "", "", pipe{gitlab.StatusFailed, "", "feature/x", "push", "a"}, false},
		{"ref exclude wins over include", "failed", "main,release/*,!release/old", "", "", pipe{gitlab.StatusFailed, "", "release/old", "push", "a"}, false},
		{"exclude only lets the rest through", "failed", "!wip/*", "", "", pipe{gitlab.StatusFailed, "", "main", "push", "a"}, true},
		{"source listed", "failed", "", "schedule,push", "", pipe{gitlab.StatusFailed, "", "main", "schedule", "a"}, true},
		{"source not listed", "failed", "", "schedule", "", pipe{gitlab.StatusFailed, "", "main", "push", "a"}, false},
		{"child pipeline folds into parent by default", "failed", "", "", "", pipe{gitlab.StatusFailed, "", "main", "parent_pipeline", "a"}, false},
		{"child pipeline when asked for", "failed", "", "parent_pipeline", "", pipe{gitlab.StatusFailed, "", "main", "parent_pipeline", "a"}, true},
		{"user included", "failed", "", "", "alice,bob", pipe{gitlab.StatusFailed, "", "main", "push", "bob"}, true},
		{"user not included", "failed", "", "", "alice", pipe{gitlab.StatusFailed, "", "main", "push", "bob"}, false},
		{"bot excluded", "failed", "", "", "!renovate-bot", pipe{gitlab.StatusFailed, "", "main", "push", "renovate-bot"}, false},
		{"others pass an exclude", "failed", "", "", "!renovate-bot", pipe{gitlab.StatusFailed, "", "main", "push", "alice"}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := ParseFilter(c.on, c.ref, c.source, c.user)
			if err != nil {
				t.Fatal(err)
			}
			got := f.MatchRef(c.p.ref) && f.MatchSource(c.p.source) && f.MatchUser(c.p.user) && f.Wants(EventsOf(c.p.status, c.p.prev))
			if got != c.want {
				t.Errorf("match = %v, want %v", got, c.want)
			}
		})
	}
}

func TestParseFilterRefusesTypos(t *testing.T) {
	for _, c := range []struct{ name, on, ref, source, user string }{
		{"unknown event", "failled", "", "", ""},
		{"bad glob", "", "release/[", "", ""},
		{"unknown source", "", "", "pushh", ""},
		{"empty exclude", "", "", "", "!"},
	} {
		if _, err := ParseFilter(c.on, c.ref, c.source, c.user); err == nil {
			t.Errorf("%s: accepted", c.name)
		}
	}
	f, _ := ParseFilter("", "", "", "")
	if !slices.Equal(f.Events(), DefaultEvents) {
		t.Errorf("default events = %v", f.Events())
	}
}
