package simulator

import (
	"net/http"
	"regexp"
	"sort"
	"strings"
)

// Admins is the protected-branch access level only administrators pass
// (GitLab's Gitlab::Access::ADMIN).
const Admins AccessLevel = 60

// protectedBranch is one protection rule; name may hold * wildcards.
type protectedBranch struct {
	id          int64
	name        string
	push, merge AccessLevel
	re          *regexp.Regexp
}

// ProtectBranch protects the branches matching pattern ("main",
// "release/*"): only users at pushLevel may push and at mergeLevel may
// merge (NoAccess means no one, Admins only administrators). Creating,
// retrying, canceling and playing pipelines and jobs on a matching branch
// then needs push or merge access, as in GitLab. Protecting an existing
// pattern again replaces its levels.
func (s *Server) ProtectBranch(projectID int64, pattern string, pushLevel, mergeLevel AccessLevel) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.prot == nil {
		s.prot = map[int64][]*protectedBranch{}
	}
	for _, pb := range s.prot[projectID] {
		if pb.name == pattern {
			pb.push, pb.merge = pushLevel, mergeLevel
			return
		}
	}
	s.nextProt++
	parts := strings.Split(pattern, "*")
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	re := regexp.MustCompile("^" + strings.Join(parts, ".*?") + "$")
	s.prot[projectID] = append(s.prot[projectID], &protectedBranch{id: s.nextProt, name: pattern, push: pushLevel, merge: mergeLevel, re: re})
}

// UnprotectBranch removes the rule with exactly that pattern.
func (s *Server) UnprotectBranch(projectID int64, pattern string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := s.prot[projectID]
	for i, pb := range list {
		if pb.name == pattern {
			s.prot[projectID] = append(list[:i:i], list[i+1:]...)
			return
		}
	}
}

// branchRules are the rules matching branch.
func (s *Server) branchRules(pr *project, branch string) []*protectedBranch {
	var out []*protectedBranch
	for _, pb := range s.prot[pr.ID] {
		if pb.re.MatchString(branch) {
			out = append(out, pb)
		}
	}
	return out
}

// passes is ProtectedRefAccess#check_access: "no one" admits nobody, the
// Admins level only administrators, and a role level needs that project
// membership: an administrator who is not a member does not pass it.
func passes(u *User, member, need AccessLevel) bool {
	switch need {
	case NoAccess:
		return false
	case Admins:
		return u.IsAdmin
	}
	return member >= Developer && member >= need
}

// canUpdateRef is GitLab's UserAccess#can_update_branch?: a protected
// branch needs push or merge access under any matching rule; an
// unprotected one Developer (administrators count as owners there). Tags
// are not protected in the simulator.
func (s *Server) canUpdateRef(c *call, ref string, tag bool) bool {
	rules := s.branchRules(c.proj, ref)
	if tag || len(rules) == 0 {
		return c.level >= Developer
	}
	member := s.memberLevel(c.proj, c.user.ID)
	for _, pb := range rules {
		if passes(c.user, member, pb.push) || passes(c.user, member, pb.merge) {
			return true
		}
	}
	return false
}

// canPush is whether the user may push to branch (the branch's can_push).
func (s *Server) canPush(c *call, branch string) bool {
	rules := s.branchRules(c.proj, branch)
	if len(rules) == 0 {
		return c.level >= Developer
	}
	member := s.memberLevel(c.proj, c.user.ID)
	for _, pb := range rules {
		if passes(c.user, member, pb.push) {
			return true
		}
	}
	return false
}

// needRefWrite refuses, with GitLab's 403, an update (retry, cancel, play,
// erase) of a pipeline on a ref the user may not update.
func (s *Server) needRefWrite(c *call, p *pipeline) *apiError {
	if !s.canUpdateRef(c, p.ref, p.tag) {
		return errForbidden
	}
	return nil
}

// checkCreateRef is the pipeline chain's Validate::Abilities for a ref the
// user may not update: 400 with GitLab's sentence.
func (s *Server) checkCreateRef(c *call, ref string) *apiError {
	if s.canUpdateRef(c, ref, contains(c.proj.Tags, ref) && !contains(c.proj.Branches, ref)) {
		return nil
	}
	return msgError(http.StatusBadRequest, map[string][]string{"base": {
		"You do not have sufficient permission to run a pipeline on '" + ref + "'. Please select a different branch or contact your administrator for assistance.",
	}})
}

type accessLevelJSON struct {
	ID                     int64  `json:"id"`
	AccessLevel            int    `json:"access_level"`
	AccessLevelDescription string `json:"access_level_description"`
	DeployKeyID            any    `json:"deploy_key_id"`
	UserID                 any    `json:"user_id"`
	GroupID                any    `json:"group_id"`
}

// protectedBranchJSON is doc/api/protected_branches.md's entity.
type protectedBranchJSON struct {
	ID                        int64             `json:"id"`
	Name                      string            `json:"name"`
	PushAccessLevels          []accessLevelJSON `json:"push_access_levels"`
	MergeAccessLevels         []accessLevelJSON `json:"merge_access_levels"`
	AllowForcePush            bool              `json:"allow_force_push"`
	CodeOwnerApprovalRequired bool              `json:"code_owner_approval_required"`
}

func accessDescription(l AccessLevel) string {
	switch l {
	case NoAccess:
		return "No one"
	case Developer:
		return "Developers + Maintainers"
	case Maintainer:
		return "Maintainers"
	case Admins:
		return "Admins"
	}
	return "Maintainers"
}

func (pb *protectedBranch) json() protectedBranchJSON {
	return protectedBranchJSON{
		ID: pb.id, Name: pb.name,
		PushAccessLevels:  []accessLevelJSON{{ID: pb.id*2 - 1, AccessLevel: int(pb.push), AccessLevelDescription: accessDescription(pb.push)}},
		MergeAccessLevels: []accessLevelJSON{{ID: pb.id * 2, AccessLevel: int(pb.merge), AccessLevelDescription: accessDescription(pb.merge)}},
	}
}

// routeProtectedBranches answers GET /projects/:id/protected_branches
// (search= filters by substring) and GET .../protected_branches/:name.
// Reading them needs Maintainer: ProtectedBranchPolicy grants
// read_protected_branch with admin_project.
func (s *Server) routeProtectedBranches(c *call, rest []string) *apiError {
	if c.r.Method != http.MethodGet {
		return errRouteNotFound
	}
	if err := c.need(Maintainer); err != nil {
		return err
	}
	rules := append([]*protectedBranch(nil), s.prot[c.proj.ID]...)
	sort.Slice(rules, func(i, k int) bool { return rules[i].id < rules[k].id })
	if len(rest) == 1 {
		for _, pb := range rules {
			if pb.name == rest[0] {
				writeJSON(c.w, http.StatusOK, pb.json())
				return nil
			}
		}
		return errNotFound
	}
	if len(rest) != 0 {
		return errRouteNotFound
	}
	search := strings.ToLower(c.r.URL.Query().Get("search"))
	out := []protectedBranchJSON{}
	for _, pb := range rules {
		if strings.Contains(strings.ToLower(pb.name), search) {
			out = append(out, pb.json())
		}
	}
	return writePage(c, out)
}
