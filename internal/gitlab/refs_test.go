package gitlab_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/pipebot/pipebot/internal/gitlab"
	"github.com/pipebot/pipebot/internal/gitlab/simulator"
)

func TestSearchRefs(t *testing.T) {
	sim, gl := simClient(t)
	many := make([]string, 250)
	for i := range many {
		many[i] = fmt.Sprintf("feature/f%03d", i)
	}
	sim.AddProject(simulator.Project{ID: 1, Path: "g/app", Members: map[int64]simulator.AccessLevel{1: simulator.Developer},
		Branches: append([]string{"main", "release/1.0", "Release-notes"}, many...), Tags: []string{"v1.0.0", "release-2"}})
	sim.AddProject(simulator.Project{ID: 2, Path: "g/hidden"})
	ctx := context.Background()
	cases := []struct {
		name, search string
		limit        int
		want         []gitlab.Ref
		wantLen      int
	}{
		{name: "substring matches branches and tags case-insensitively", search: "release", limit: 100,
			want: []gitlab.Ref{{Name: "Release-notes"}, {Name: "release/1.0"}, {Name: "release-2", Tag: true}}},
		{name: "caret anchors at the start", search: "^v1", limit: 100, want: []gitlab.Ref{{Name: "v1.0.0", Tag: true}}},
		{name: "dollar anchors at the end", search: "f249$", limit: 100, want: []gitlab.Ref{{Name: "feature/f249"}}},
		{name: "nothing matches", search: "zzz", limit: 100, want: []gitlab.Ref{}},
		{name: "many branches stop at the limit", search: "feature", limit: 100, wantLen: 100},
		{name: "limit above 100 is held to one page", search: "", limit: 500, wantLen: 100 + 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := gl.SearchRefs(ctx, "g/app", tc.search, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			if tc.want != nil {
				if fmt.Sprint(got) != fmt.Sprint(tc.want) {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
				return
			}
			if len(got) != tc.wantLen {
				t.Fatalf("got %d refs, want %d", len(got), tc.wantLen)
			}
		})
	}
	if _, err := gl.SearchRefs(ctx, "g/hidden", "", 10); !errors.Is(err, gitlab.ErrNotFound) {
		t.Fatalf("hidden project: err = %v, want ErrNotFound", err)
	}
}
