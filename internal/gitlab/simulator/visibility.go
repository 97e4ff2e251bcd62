package simulator

// Project visibility levels (doc/api/projects.md, visibility).
const (
	VisibilityPrivate  = "private"
	VisibilityInternal = "internal"
	VisibilityPublic   = "public"
)

func (pr *project) visibility() string {
	switch pr.Visibility {
	case VisibilityPublic, VisibilityInternal:
		return pr.Visibility
	}
	return VisibilityPrivate
}

// projectAccess is u's effective level on pr and whether u sees pr at all,
// as GitLab's ProjectPolicy decides it: administrators see every project
// as owners; members see it at their level; a public or internal project
// is readable by every signed-in user (NoAccess level); a private project
// is 404 to everyone else.
func (s *Server) projectAccess(pr *project, u *User) (AccessLevel, bool) {
	if u.IsAdmin {
		return Owner, true
	}
	if l := s.memberLevel(pr, u.ID); l >= Guest {
		return l, true
	}
	v := pr.visibility()
	return NoAccess, v == VisibilityPublic || v == VisibilityInternal
}

// memberLevel is userID's membership of pr: its own, or inherited from a
// group (or ancestor group) pr is in, whichever is higher, as GitLab's
// max_member_access.
func (s *Server) memberLevel(pr *project, userID int64) AccessLevel {
	best := pr.Members[userID]
	for _, g := range s.ext.groups {
		if inGroup(pr.Path, g.Path, true) && g.Members[userID] > best {
			best = g.Members[userID]
		}
	}
	return best
}

// needRead checks read_pipeline/read_build (pipelines, jobs, job logs):
// Reporter and up always; with public pipelines (GitLab's public_builds),
// guests of any project and every signed-in user of a public or internal
// project (doc/ci/pipelines/settings.md, "Change which users can view your
// pipelines"). Others get 403.
func (c *call) needRead() *apiError {
	if c.proj.readsPipelines(c.level) {
		return nil
	}
	return errForbidden
}

// readsPipelines is needRead's rule: whether a caller at level on pr has
// read_pipeline/read_build.
func (pr *project) readsPipelines(level AccessLevel) bool {
	if level >= Reporter {
		return true
	}
	return pr.PublicPipelines && (level >= Guest || pr.visibility() != VisibilityPrivate)
}
