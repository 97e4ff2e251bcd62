package simulator

import (
	"sort"
	"strconv"
	"strings"
)

// Group is a GitLab group. Its projects are those whose path starts with the
// group's path (subgroups are groups whose path does).
type Group struct {
	ID   int64
	Path string // full path, e.g. "acme/platform"
	// Members see the group and every project in it; a member of one of its
	// projects sees the group too, as in GitLab.
	Members map[int64]AccessLevel
}

// extState is the simulator's state for groups, child pipelines and webhooks.
type extState struct {
	groups  map[int64]*Group
	parents map[int64]int64 // child pipeline id -> parent pipeline id
	hooks   hookState
}

// AddGroup registers a group (an ID of 0 picks one) and returns it.
func (s *Server) AddGroup(g Group) Group {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ext.groups == nil {
		s.ext.groups = map[int64]*Group{}
	}
	if g.ID == 0 {
		g.ID = int64(1000 + len(s.ext.groups))
	}
	m := make(map[int64]AccessLevel, len(g.Members))
	for k, v := range g.Members {
		m[k] = v
	}
	g.Members = m
	cp := g
	s.ext.groups[g.ID] = &cp
	return g
}

func (s *Server) lookupGroup(idOrPath string) *Group {
	if id, err := strconv.ParseInt(idOrPath, 10, 64); err == nil {
		return s.ext.groups[id]
	}
	for _, g := range s.ext.groups {
		if strings.EqualFold(g.Path, idOrPath) {
			return g
		}
	}
	return nil
}

func inGroup(projectPath, groupPath string, subgroups bool) bool {
	prefix := strings.ToLower(groupPath) + "/"
	p := strings.ToLower(projectPath)
	if !strings.HasPrefix(p, prefix) {
		return false
	}
	return subgroups || !strings.Contains(p[len(prefix):], "/")
}

// groupLevel is the user's access to a group: its own membership or that of
// an ancestor group.
func (s *Server) groupLevel(g *Group, userID int64) AccessLevel {
	best := g.Members[userID]
	for _, other := range s.ext.groups {
		if other != g && strings.HasPrefix(strings.ToLower(g.Path), strings.ToLower(other.Path)+"/") && other.Members[userID] > best {
			best = other.Members[userID]
		}
	}
	return best
}

// projectVisible is whether userID sees the project: a project member or a
// member of a group it is in, an administrator, or anyone for a public or
// internal project (visibility.go).
func (s *Server) projectVisible(pr *project, userID int64) bool {
	u := s.users[userID]
	if u == nil {
		return false
	}
	_, ok := s.projectAccess(pr, u)
	return ok
}

type groupJSON struct {
	ID       int64  `json:"id"`
	Name     string `json:"name"`
	Path     string `json:"path"`
	FullPath string `json:"full_path"`
	WebURL   string `json:"web_url"`
}

type projectSimpleJSON struct {
	ID                int64  `json:"id"`
	Name              string `json:"name"`
	Path              string `json:"path"`
	PathWithNamespace string `json:"path_with_namespace"`
	CreatedAt         string `json:"created_at"`
	DefaultBranch     string `json:"default_branch"`
	WebURL            string `json:"web_url"`
	LastActivityAt    string `json:"last_activity_at"`
}

// routeGroup answers GET /groups/:id and GET /groups/:id/projects
// (doc/api/groups.md): 404 when the user cannot see the group.
func (s *Server) routeGroup(c *call, idOrPath string, rest []string) *apiError {
	g := s.lookupGroup(idOrPath)
	if g == nil {
		return msgError(404, "404 Group Not Found")
	}
	visible := s.groupLevel(g, c.user.ID) >= Guest
	var projects []*project
	for _, id := range sortedKeys(s.projects) {
		pr := s.projects[id]
		if inGroup(pr.Path, g.Path, true) && s.projectVisible(pr, c.user.ID) {
			visible = true
			projects = append(projects, pr)
		}
	}
	if !visible {
		return msgError(404, "404 Group Not Found")
	}
	name := g.Path[strings.LastIndex(g.Path, "/")+1:]
	switch {
	case len(rest) == 0:
		writeJSON(c.w, 200, groupJSON{ID: g.ID, Name: name, Path: name, FullPath: g.Path, WebURL: s.webBase + "/groups/" + g.Path})
		return nil
	case len(rest) == 1 && rest[0] == "projects":
		q := c.r.URL.Query()
		sub := q.Get("include_subgroups") == "true"
		var in []*project
		for _, pr := range projects {
			if inGroup(pr.Path, g.Path, sub) {
				in = append(in, pr)
			}
		}
		if bad := sortGroupProjects(in, q.Get("order_by"), q.Get("sort")); bad != "" {
			return paramError(bad + " does not have a valid value")
		}
		out := make([]projectSimpleJSON, 0, len(in))
		for _, pr := range in {
			out = append(out, projectSimpleJSON{
				ID: pr.ID, Name: lastSegment(pr.Path), Path: lastSegment(pr.Path),
				PathWithNamespace: pr.Path, CreatedAt: ts(pr.createdAt), DefaultBranch: pr.DefaultBranch,
				WebURL: s.webBase + "/" + pr.Path, LastActivityAt: ts(pr.lastActivityAt),
			})
		}
		return writePage(c, out)
	}
	return errRouteNotFound
}

// CreateChildPipeline creates a pipeline with source parent_pipeline under
// parentID, as a trigger job with include: would (a bridge in the parent).
// It returns 0 when the parent is unknown.
func (s *Server) CreateChildPipeline(projectID, parentID int64) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	parent := s.findPipeline(projectID, parentID)
	if parent == nil {
		return 0
	}
	p, err := s.createPipeline(parent.project, parent.ref, "parent_pipeline", parent.userID, nil, nil)
	if err != nil {
		return 0
	}
	if s.ext.parents == nil {
		s.ext.parents = map[int64]int64{}
	}
	s.ext.parents[p.id] = parentID
	return p.id
}

type bridgeJSON struct {
	ID                 int64             `json:"id"`
	Name               string            `json:"name"`
	Stage              string            `json:"stage"`
	Status             string            `json:"status"`
	DownstreamPipeline pipelineBasicJSON `json:"downstream_pipeline"`
}

// bridgesOf lists the trigger jobs of p: one per child pipeline.
func (s *Server) bridgesOf(p *pipeline) []bridgeJSON {
	out := []bridgeJSON{}
	for child, parent := range s.ext.parents {
		if parent != p.id {
			continue
		}
		cp := s.pipelines[child]
		if cp == nil {
			continue
		}
		out = append(out, bridgeJSON{ID: 900000 + cp.id, Name: "trigger", Stage: "test", Status: cp.status, DownstreamPipeline: s.pipelineBasic(cp)})
	}
	sort.Slice(out, func(i, k int) bool { return out[i].ID < out[k].ID })
	return out
}
