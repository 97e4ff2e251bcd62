package gitlab

import (
	"context"
	"fmt"
	"time"

	gl "gitlab.com/gitlab-org/api/client-go"
)

// ProjectActivity is a project with its last_activity_at.
//
// GitLab moves last_activity_at when an event is recorded in the project (a
// push, a merge request or issue change, a comment, a wiki edit), but at
// most once an hour: Event#reset_project_activity skips projects whose
// last_activity_at is less than an hour old. Creating a pipeline records no
// event, so a pipeline started by the API, a trigger or a schedule never
// moves it. It is a hint that something happened, not a pipeline signal.
// https://gitlab.com/gitlab-org/gitlab-foss/-/merge_requests/6391
type ProjectActivity struct {
	ID int64
	// Path is path_with_namespace.
	Path           string
	LastActivityAt time.Time
}

type wireActivity struct {
	ID                int64      `json:"id"`
	PathWithNamespace string     `json:"path_with_namespace"`
	LastActivityAt    *time.Time `json:"last_activity_at"`
}

// GroupActivity lists a group's own unarchived projects (its subgroups' too
// with subgroups; not those shared into it, as GroupProjects), most
// recently active first (GET /groups/:id/projects
// ?order_by=last_activity_at&sort=desc), following pages only while they
// reach back to since: a page whose last project is older than since is the
// last one read. A zero since reads every page (up to 5,000 projects).
func (c *Client) GroupActivity(ctx context.Context, group string, subgroups bool, since time.Time) ([]ProjectActivity, error) {
	gp, err := projectPath(group)
	if err != nil {
		return nil, fmt.Errorf("list group activity: %w", err)
	}
	var out []ProjectActivity
	err = eachPage(ctx, c, "groups/"+gp+"/projects", func(page int) any {
		return &groupProjectsQuery{IncludeSubgroups: subgroups, Simple: true, OrderBy: "last_activity_at", Sort: "desc", PerPage: maxPerPage, Page: page}
	}, func(batch []wireActivity, _ *gl.Response) bool {
		older := false
		for _, w := range batch {
			a := ProjectActivity{ID: w.ID, Path: w.PathWithNamespace}
			if w.LastActivityAt != nil {
				a.LastActivityAt = *w.LastActivityAt
			}
			out = append(out, a)
			if !since.IsZero() && a.LastActivityAt.Before(since) {
				older = true
			}
		}
		return !older && len(out) < maxGroupProjects
	})
	if err != nil {
		return nil, fmt.Errorf("list activity of group %s: %w", group, err)
	}
	return out, nil
}
