package gitlab

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
)

// Group is a GitLab group.
type Group struct {
	ID int64
	// Path is full_path, e.g. "group/sub".
	Path, Name, WebURL string
}

type wireGroup struct {
	ID       int64  `json:"id"`
	FullPath string `json:"full_path"`
	Name     string `json:"name"`
	WebURL   string `json:"web_url"`
}

// Group returns a group by numeric id or full path (GET /groups/:id).
func (c *Client) Group(ctx context.Context, group string) (Group, error) {
	gp, err := projectPath(group)
	if err != nil {
		return Group{}, fmt.Errorf("get group: %w", err)
	}
	var w wireGroup
	if _, err := c.do(ctx, request{method: http.MethodGet, path: "groups/" + gp, out: &w}); err != nil {
		return Group{}, fmt.Errorf("get group %s: %w", group, err)
	}
	return Group{ID: w.ID, Path: w.FullPath, Name: w.Name, WebURL: w.WebURL}, nil
}

// groupProjectsQuery lists a group's own unarchived projects
// (with_shared=false: GitLab's default also lists projects shared into it),
// for discovery (GroupProjects) and activity (GroupActivity).
type groupProjectsQuery struct {
	IncludeSubgroups bool   `url:"include_subgroups"`
	WithShared       bool   `url:"with_shared"`
	Archived         bool   `url:"archived"`
	Simple           bool   `url:"simple"`
	OrderBy          string `url:"order_by,omitempty"`
	Sort             string `url:"sort,omitempty"`
	PerPage          int    `url:"per_page,omitempty"`
	Page             int    `url:"page,omitempty"`
}

// maxGroupProjects bounds group discovery.
const maxGroupProjects = 5000

// GroupProjects lists the unarchived projects of a group and its subgroups
// that the token can see (GET /groups/:id/projects?include_subgroups=true).
func (c *Client) GroupProjects(ctx context.Context, group string) ([]Project, error) {
	gp, err := projectPath(group)
	if err != nil {
		return nil, fmt.Errorf("list group projects: %w", err)
	}
	ws, err := paginate[wireProject](ctx, c, "groups/"+gp+"/projects", maxGroupProjects, func(page, perPage int) any {
		return &groupProjectsQuery{IncludeSubgroups: true, Simple: true, PerPage: perPage, Page: page}
	})
	if err != nil {
		return nil, fmt.Errorf("list projects of group %s: %w", group, err)
	}
	out := make([]Project, len(ws))
	for i, w := range ws {
		out[i] = w.project()
	}
	return out, nil
}

// User returns a user by id (GET /users/:id). GitLab shows the email only to
// an administrator's token; other tokens see public_email, which is empty
// unless the user made it public. Email holds whichever is set.
func (c *Client) User(ctx context.Context, id int64) (User, error) {
	if id <= 0 {
		return User{}, fmt.Errorf("get user: invalid id %d", id)
	}
	var w wireUser
	if _, err := c.do(ctx, request{method: http.MethodGet, path: "users/" + strconv.FormatInt(id, 10), out: &w}); err != nil {
		return User{}, fmt.Errorf("get user %d: %w", id, err)
	}
	return w.user(), nil
}
