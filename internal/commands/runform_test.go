package commands

import (
	"strings"
	"testing"

	"github.com/slack-go/slack"

	"github.com/pipebot/pipebot/internal/gitlab"
)

func formView(values map[string]string) *slack.View {
	st := &slack.ViewState{Values: map[string]map[string]slack.BlockAction{}}
	for block, v := range values {
		a := slack.BlockAction{Value: v}
		if block == blockRunRef {
			a = slack.BlockAction{SelectedOption: slack.OptionBlockObject{Value: v}}
		}
		st.Values[block] = map[string]slack.BlockAction{actionRun: a}
	}
	return &slack.View{CallbackID: callbackRun, State: st}
}

func TestRunFormCommand(t *testing.T) {
	cases := []struct {
		name      string
		values    map[string]string
		want      string
		wantBlock string
	}{
		{"project and ref", map[string]string{"project": "group/app", "ref": "main"}, "pipeline run group/app main", ""},
		{"variables and inputs become tokens, quoted like typed", map[string]string{"project": "group/app", "ref": "release/1.2",
			"variables": "DEPLOY_ZONE=us-west1\n\nNOTE=two words\r\n", "inputs": "environment=staging\nreplicas=3"},
			`pipeline run group/app release/1.2 DEPLOY_ZONE=us-west1 "NOTE=two words" input:environment=staging input:replicas=3`, ""},
		{"missing ref", map[string]string{"project": "group/app"}, "", blockRunRef},
		{"project with a space", map[string]string{"project": "group/app main", "ref": "main"}, "", blockRunProject},
		{"variable line without =", map[string]string{"project": "g/a", "ref": "main", "variables": "OK=1\nnope"}, "", blockRunVars},
		{"variable key starting with a digit", map[string]string{"project": "g/a", "ref": "main", "variables": "1X=1"}, "", blockRunVars},
		{"repeated variable", map[string]string{"project": "g/a", "ref": "main", "variables": "A=1\nA=2"}, "", blockRunVars},
		{"input without =", map[string]string{"project": "g/a", "ref": "main", "inputs": "environment"}, "", blockRunInputs},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, errs := runFormCommand(formView(tc.values))
			if tc.wantBlock != "" {
				if len(errs) != 1 || errs[tc.wantBlock] == "" || got != "" {
					t.Fatalf("got %q, errors %v; want one error on %s", got, errs, tc.wantBlock)
				}
				return
			}
			if len(errs) != 0 || got != tc.want {
				t.Fatalf("got %q, errors %v; want %q", got, errs, tc.want)
			}
		})
	}
}

func TestRankRefsPutsMatchesFirstAndCapsAt100(t *testing.T) {
	refs := []gitlab.Ref{{Name: "old-main"}, {Name: "main-2"}, {Name: "main"}, {Name: "main", Tag: true}, {Name: "v1", Tag: true}}
	for i := range 150 {
		refs = append(refs, gitlab.Ref{Name: "zz-main-" + strings.Repeat("x", i%3) + string(rune('a'+i%26)) + string(rune('a'+i/26))})
	}
	opts := rankRefs(refs, "main")
	if len(opts) != maxOptions {
		t.Fatalf("options = %d, want %d", len(opts), maxOptions)
	}
	var first []string
	for _, o := range opts[:3] {
		first = append(first, o.Value+"/"+o.Description.Text)
	}
	if got := strings.Join(first, " "); got != "main/branch main-2/branch old-main/branch" {
		t.Errorf("first options = %s", got)
	}
}
