package simulator

import (
	"net/http"
	"sort"
	"strings"
)

// branchJSON is one branch as GET /projects/:id/repository/branches
// returns it (doc/api/branches.md).
type branchJSON struct {
	Name               string        `json:"name"`
	Merged             bool          `json:"merged"`
	Protected          bool          `json:"protected"`
	Default            bool          `json:"default"`
	DevelopersCanPush  bool          `json:"developers_can_push"`
	DevelopersCanMerge bool          `json:"developers_can_merge"`
	CanPush            bool          `json:"can_push"`
	WebURL             string        `json:"web_url"`
	Commit             refCommitJSON `json:"commit"`
}

// tagJSON is one tag as GET /projects/:id/repository/tags returns it
// (doc/api/tags.md).
type tagJSON struct {
	Name      string        `json:"name"`
	Message   string        `json:"message"`
	Target    string        `json:"target"`
	Commit    refCommitJSON `json:"commit"`
	Release   any           `json:"release"`
	Protected bool          `json:"protected"`
	CreatedAt any           `json:"created_at"`
}

type refCommitJSON struct {
	ID      string `json:"id"`
	ShortID string `json:"short_id"`
	Title   string `json:"title"`
}

// matchRefSearch applies GitLab's branch and tag search: a case-insensitive
// substring, "^term" anchors at the start and "term$" at the end.
func matchRefSearch(name, search string) bool {
	if search == "" {
		return true
	}
	n, q := strings.ToLower(name), strings.ToLower(search)
	pre, suf := strings.HasPrefix(q, "^"), strings.HasSuffix(q, "$")
	q = strings.TrimSuffix(strings.TrimPrefix(q, "^"), "$")
	switch {
	case pre && suf:
		return n == q
	case pre:
		return strings.HasPrefix(n, q)
	case suf:
		return strings.HasSuffix(n, q)
	}
	return strings.Contains(n, q)
}

// listRefs answers the branches and tags lists, sorted by name as GitLab
// sorts branches (tags are sorted by name here, GitLab's order_by=name).
func (s *Server) listRefs(c *call, kind string) *apiError {
	search := c.r.URL.Query().Get("search")
	pr := c.proj
	var names []string
	if kind == "branches" {
		names = append(names, pr.Branches...)
		if !contains(names, pr.DefaultBranch) {
			names = append(names, pr.DefaultBranch)
		}
	} else {
		names = append(names, pr.Tags...)
	}
	sort.Strings(names)
	web := s.webBase + "/" + pr.Path
	if kind == "branches" {
		out := []branchJSON{}
		for _, n := range names {
			if !matchRefSearch(n, search) {
				continue
			}
			sha := fakeSHA(pr.Path, n)
			rules := s.branchRules(pr, n)
			devPush, devMerge := false, false
			for _, pb := range rules {
				devPush = devPush || (pb.push != NoAccess && pb.push <= Developer)
				devMerge = devMerge || (pb.merge != NoAccess && pb.merge <= Developer)
			}
			out = append(out, branchJSON{
				Name: n, Default: n == pr.DefaultBranch, Protected: len(rules) > 0,
				DevelopersCanPush: devPush, DevelopersCanMerge: devMerge,
				CanPush: s.canPush(c, n), WebURL: web + "/-/tree/" + n,
				Commit: refCommitJSON{ID: sha, ShortID: sha[:8], Title: "Update " + n},
			})
		}
		return writePage(c, out)
	}
	out := []tagJSON{}
	for _, n := range names {
		if !matchRefSearch(n, search) {
			continue
		}
		sha := fakeSHA(pr.Path, n)
		out = append(out, tagJSON{Name: n, Target: sha, Commit: refCommitJSON{ID: sha, ShortID: sha[:8], Title: "Release " + n}})
	}
	return writePage(c, out)
}

func (s *Server) routeRepository(c *call, rest []string) *apiError {
	if len(rest) == 1 && (rest[0] == "branches" || rest[0] == "tags") && c.r.Method == http.MethodGet {
		return s.listRefs(c, rest[0])
	}
	return errRouteNotFound
}
