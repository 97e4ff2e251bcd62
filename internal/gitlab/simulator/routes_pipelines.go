package simulator

import (
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

func (s *Server) routePipeline(c *call, idStr string, rest []string) *apiError {
	if err := c.needRead(); err != nil {
		return err
	}
	id, err := strconv.ParseInt(idStr, 10, 64)
	if err != nil {
		return paramError("pipeline_id is invalid")
	}
	p := s.findPipeline(c.proj.ID, id)
	if p == nil {
		return errNotFound
	}
	m := c.r.Method
	switch {
	case len(rest) == 0 && m == http.MethodGet:
		writeJSON(c.w, http.StatusOK, s.pipelineFull(p))
	case len(rest) == 0 && m == http.MethodDelete:
		if err := c.need(Maintainer); err != nil {
			return err
		}
		s.deletePipeline(p)
		c.w.WriteHeader(http.StatusNoContent)
	case len(rest) == 1 && rest[0] == "retry" && m == http.MethodPost:
		if err := c.need(Developer); err != nil {
			return err
		}
		if err := s.needRefWrite(c, p); err != nil {
			return err
		}
		s.retryPipeline(p, c.user.ID)
		writeJSON(c.w, http.StatusCreated, s.pipelineFull(p))
	case len(rest) == 1 && rest[0] == "cancel" && m == http.MethodPost:
		if err := c.need(Developer); err != nil {
			return err
		}
		if err := s.needRefWrite(c, p); err != nil {
			return err
		}
		s.cancelPipeline(p)
		writeJSON(c.w, http.StatusCreated, s.pipelineFull(p))
	case len(rest) == 1 && rest[0] == "variables" && m == http.MethodGet:
		if err := c.need(Developer); err != nil {
			return err
		}
		out := make([]pipelineVariableJSON, 0, len(p.variables))
		for _, v := range p.variables {
			out = append(out, pipelineVariableJSON{Key: v.Key, VariableType: v.VariableType, Value: v.Value})
		}
		return writePage(c, out)
	case len(rest) == 1 && rest[0] == "jobs" && m == http.MethodGet:
		return s.listPipelineJobs(c, p)
	case len(rest) == 1 && rest[0] == "bridges" && m == http.MethodGet:
		// Bridges are the trigger jobs of child pipelines (CreateChildPipeline).
		return writePage(c, s.bridgesOf(p))
	default:
		return errRouteNotFound
	}
	return nil
}

func (s *Server) deletePipeline(p *pipeline) {
	pr := p.project
	for i, x := range pr.pipelines {
		if x == p {
			pr.pipelines = append(pr.pipelines[:i:i], pr.pipelines[i+1:]...)
			break
		}
	}
	for _, j := range p.jobs {
		delete(s.jobs, j.id)
	}
	delete(s.pipelines, p.id)
}

func (s *Server) createPipelineAPI(c *call) *apiError {
	if err := c.need(Developer); err != nil {
		return err
	}
	params, err := readParams(c.r)
	if err != nil {
		return err
	}
	ref := params.get("ref")
	if ref == "" {
		return paramError("ref is missing")
	}
	if err := s.checkCreateRef(c, ref); err != nil {
		return err
	}
	vars, err := params.variables("variables")
	if err != nil {
		return err
	}
	if err := s.checkOverrideRole(c.proj, c.user.ID, vars); err != nil {
		return err
	}
	inputs, err := params.hash("inputs")
	if err != nil {
		return err
	}
	p, err := s.createPipeline(c.proj, ref, "api", c.user.ID, vars, inputs)
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusCreated, s.pipelineFull(p))
	return nil
}

func (s *Server) latestPipeline(c *call) *apiError {
	if err := c.needRead(); err != nil {
		return err
	}
	ref := c.r.URL.Query().Get("ref")
	if ref == "" {
		ref = c.proj.DefaultBranch
	}
	for k := len(c.proj.pipelines) - 1; k >= 0; k-- {
		if p := c.proj.pipelines[k]; p.ref == ref {
			writeJSON(c.w, http.StatusOK, s.pipelineFull(p))
			return nil
		}
	}
	return errNotFound
}

var pipelineStatuses = []string{
	StatusCreated, StatusWaitingForResource, StatusPreparing, StatusPending, StatusRunning,
	StatusSuccess, StatusFailed, StatusCanceled, StatusCanceling, StatusSkipped, StatusManual, StatusScheduled,
}

// parseISOTime accepts the ISO 8601 forms GitLab's API takes.
func parseISOTime(v string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05Z0700", "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func (s *Server) listPipelines(c *call) *apiError {
	if err := c.needRead(); err != nil {
		return err
	}
	q := c.r.URL.Query()
	var filters []func(*pipeline) bool
	if v := q.Get("scope"); v != "" {
		switch v {
		case "running", "pending":
			filters = append(filters, func(p *pipeline) bool { return p.status == v })
		case "finished":
			filters = append(filters, func(p *pipeline) bool {
				return p.status == StatusSuccess || p.status == StatusFailed || p.status == StatusCanceled || p.status == StatusSkipped
			})
		case "branches":
			filters = append(filters, func(p *pipeline) bool { return !p.tag })
		case "tags":
			filters = append(filters, func(p *pipeline) bool { return p.tag })
		default:
			return paramError("scope does not have a valid value")
		}
	}
	if v := q.Get("status"); v != "" {
		if !contains(pipelineStatuses, v) {
			return paramError("status does not have a valid value")
		}
		filters = append(filters, func(p *pipeline) bool { return p.status == v })
	}
	for _, f := range []struct {
		key string
		get func(*pipeline) string
	}{
		{"source", func(p *pipeline) string { return p.source }},
		{"ref", func(p *pipeline) string { return p.ref }},
		{"sha", func(p *pipeline) string { return p.sha }},
		{"name", func(p *pipeline) string { return p.project.PipelineName }},
		{"username", func(p *pipeline) string {
			if u, ok := s.users[p.userID]; ok {
				return u.Username
			}
			return ""
		}},
	} {
		if v := q.Get(f.key); v != "" {
			get := f.get
			filters = append(filters, func(p *pipeline) bool { return get(p) == v })
		}
	}
	// updated_after/updated_before are inclusive, like GitLab's
	// UpdatedAtFilterable scopes.
	if v := q.Get("updated_after"); v != "" {
		t, ok := parseISOTime(v)
		if !ok {
			return paramError("updated_after is invalid")
		}
		filters = append(filters, func(p *pipeline) bool { return !p.updatedAt.Before(t) })
	}
	if v := q.Get("updated_before"); v != "" {
		t, ok := parseISOTime(v)
		if !ok {
			return paramError("updated_before is invalid")
		}
		filters = append(filters, func(p *pipeline) bool { return !p.updatedAt.After(t) })
	}
	// created_after/created_before are inclusive too (CreatedAtFilterable).
	if v := q.Get("created_after"); v != "" {
		t, ok := parseISOTime(v)
		if !ok {
			return paramError("created_after is invalid")
		}
		filters = append(filters, func(p *pipeline) bool { return !p.createdAt.Before(t) })
	}
	if v := q.Get("created_before"); v != "" {
		t, ok := parseISOTime(v)
		if !ok {
			return paramError("created_before is invalid")
		}
		filters = append(filters, func(p *pipeline) bool { return !p.createdAt.After(t) })
	}
	orderBy := q.Get("order_by")
	if orderBy == "" {
		orderBy = "id"
	}
	if !contains([]string{"id", "status", "ref", "updated_at", "user_id"}, orderBy) {
		return paramError("order_by does not have a valid value")
	}
	dir := q.Get("sort")
	if dir == "" {
		dir = "desc"
	}
	if dir != "asc" && dir != "desc" {
		return paramError("sort does not have a valid value")
	}
	var list []*pipeline
	for _, p := range c.proj.pipelines {
		keep := true
		for _, f := range filters {
			if !f(p) {
				keep = false
				break
			}
		}
		if keep {
			list = append(list, p)
		}
	}
	less := func(a, b *pipeline) int {
		switch orderBy {
		case "status":
			return strings.Compare(a.status, b.status)
		case "ref":
			return strings.Compare(a.ref, b.ref)
		case "updated_at":
			return a.updatedAt.Compare(b.updatedAt)
		case "user_id":
			return cmpInt(a.userID, b.userID)
		}
		return 0
	}
	sort.SliceStable(list, func(i, k int) bool {
		c := less(list[i], list[k])
		if c == 0 {
			c = cmpInt(list[i].id, list[k].id)
		}
		if dir == "desc" {
			return c > 0
		}
		return c < 0
	})
	out := make([]pipelineBasicJSON, 0, len(list))
	for _, p := range list {
		out = append(out, s.pipelineBasic(p))
	}
	return writePage(c, out)
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
