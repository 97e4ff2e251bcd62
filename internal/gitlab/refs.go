package gitlab

import (
	"context"
	"fmt"
	"sync"
)

// Ref is a branch or a tag of a project.
type Ref struct {
	Name string
	// Tag is true for a tag, false for a branch.
	Tag bool
	// Protected is GitLab's protected flag: who may push, and run
	// pipelines, is limited.
	Protected bool
}

type refsQuery struct {
	Search  string `url:"search,omitempty"`
	PerPage int    `url:"per_page,omitempty"`
	Page    int    `url:"page,omitempty"`
}

type wireRef struct {
	Name      string `json:"name"`
	Protected bool   `json:"protected"`
}

// SearchRefs lists up to limit branches and up to limit tags whose name
// contains search (GET /projects/:id/repository/branches?search= and
// /repository/tags?search=, doc/api/branches.md, doc/api/tags.md; GitLab
// reads a leading ^ and a trailing $ as anchors). Both lists are asked for
// at once, since a ref picker has Slack's 3 seconds in all; branches come
// first.
func (c *Client) SearchRefs(ctx context.Context, project, search string, limit int) ([]Ref, error) {
	pp, err := projectPath(project)
	if err != nil {
		return nil, fmt.Errorf("search refs: %w", err)
	}
	limit = max(1, min(limit, maxPerPage))
	var (
		wg        sync.WaitGroup
		lists     [2][]wireRef
		errs      [2]error
		endpoints = [2]string{"branches", "tags"}
	)
	for i, kind := range endpoints {
		wg.Go(func() {
			lists[i], errs[i] = paginate[wireRef](ctx, c, "projects/"+pp+"/repository/"+kind, limit, func(page, perPage int) any {
				return &refsQuery{Search: search, PerPage: perPage, Page: page}
			})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("search %s of %s: %w", endpoints[i], project, err)
		}
	}
	out := make([]Ref, 0, len(lists[0])+len(lists[1]))
	for i, l := range lists {
		for _, w := range l {
			out = append(out, Ref{Name: w.Name, Tag: i == 1, Protected: w.Protected})
		}
	}
	return out, nil
}
