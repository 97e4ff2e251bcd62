package simulator

import (
	"sort"
	"strings"
	"time"
)

// activityThrottle is GitLab's Event::RESET_PROJECT_ACTIVITY_INTERVAL: an
// event moves a project's last_activity_at only when it is at least this old.
const activityThrottle = time.Hour

// RecordEvent records an event in a project (a push, a comment, an issue or
// merge request change) as GitLab's Event model does: last_activity_at
// becomes now unless it moved less than an hour ago
// (Event#reset_project_activity). Creating a pipeline is not an event;
// CreatePipeline with source "push" or "merge_request_event" records the
// push that started it.
func (s *Server) RecordEvent(projectID int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if pr, ok := s.projects[projectID]; ok {
		s.recordEvent(pr)
	}
}

func (s *Server) recordEvent(pr *project) {
	now := s.clock()
	if !pr.lastActivityAt.After(now.Add(-activityThrottle)) {
		pr.lastActivityAt = now
	}
}

// LastActivityAt returns a project's last_activity_at.
func (s *Server) LastActivityAt(projectID int64) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if pr, ok := s.projects[projectID]; ok {
		return pr.lastActivityAt
	}
	return time.Time{}
}

// pipelineEvent records the event behind a new pipeline: pushes (and merge
// request updates, which are pushes to the source branch) create a push
// event before GitLab creates their pipeline; the API, triggers, schedules,
// the "Run pipeline" button and parent pipelines create none.
func (s *Server) pipelineEvent(pr *project, source string) {
	switch source {
	case "push", "merge_request_event":
		s.recordEvent(pr)
	}
}

// sortGroupProjects orders a group's project list as GET /groups/:id/projects
// does (doc/api/groups.md, "List projects"): order_by id, name, path,
// created_at (the default) or last_activity_at, sort desc (the default) or
// asc; ties go by id in the same direction. It returns the parameter GitLab
// would refuse, or "".
func sortGroupProjects(ps []*project, orderBy, dir string) string {
	var key func(a, b *project) int
	switch orderBy {
	case "id":
		key = func(a, b *project) int { return 0 }
	case "name", "path":
		key = func(a, b *project) int { return strings.Compare(lastSegment(a.Path), lastSegment(b.Path)) }
	case "", "created_at":
		key = func(a, b *project) int { return a.createdAt.Compare(b.createdAt) }
	case "last_activity_at":
		key = func(a, b *project) int { return a.lastActivityAt.Compare(b.lastActivityAt) }
	default:
		return "order_by"
	}
	if dir != "" && dir != "asc" && dir != "desc" {
		return "sort"
	}
	desc := dir != "asc"
	sort.SliceStable(ps, func(i, k int) bool {
		c := key(ps[i], ps[k])
		if c == 0 {
			c = cmpInt(ps[i].ID, ps[k].ID)
		}
		if desc {
			return c > 0
		}
		return c < 0
	})
	return ""
}

func lastSegment(path string) string { return path[strings.LastIndex(path, "/")+1:] }
