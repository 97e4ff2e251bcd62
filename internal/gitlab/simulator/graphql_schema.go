package simulator

import (
	"encoding/base64"
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The part of GitLab's GraphQL schema the simulator serves, with names and
// types as doc/api/graphql/reference/_index.md gives them:
//
//	Query.projects(ids: [ID!], membership, search, sort, first/last/after/before): ProjectConnection
//	Query.project(fullPath: ID!): Project
//	Query.queryComplexity: QueryComplexity
//	Project.id (gid://gitlab/Project/N), fullPath, name, webUrl
//	Project.pipelines(status, ref, sha, source, username, updatedAfter,
//	  updatedBefore, first/last/after/before): PipelineConnection
//	Pipeline.id (gid://gitlab/Ci::Pipeline/N), iid, status (PipelineStatusEnum),
//	  ref, sha, source, createdAt, updatedAt
//
// Connections have nodes, edges { cursor node }, pageInfo and count, at
// most 100 nodes a page (GitLab's default_max_page_size), newest id first
// as GitLab's ProjectsFinder and PipelinesFinder order them.

type gqlFieldDef struct {
	typ  *gqlTypeRef
	args map[string]*gqlTypeRef
	// conn marks a connection field: its page size multiplies its nodes'
	// complexity.
	conn bool
	// resolver marks a field GitLab resolves with a BaseResolver subclass,
	// whose complexity is a proc (Types::BaseField#field_resolver_complexity)
	// instead of 1; extra is that resolver's resolver_complexity beyond
	// BaseResolver's.
	resolver bool
	extra    func(args map[string]any) int
	resolve  func(x *gqlExec, obj any, args map[string]any) (any, *gqlError)
}

type gqlSchema struct {
	objects map[string]map[string]*gqlFieldDef
	enums   map[string][]string
}

func named(n string) *gqlTypeRef        { return &gqlTypeRef{name: n} }
func nonNull(t *gqlTypeRef) *gqlTypeRef { c := *t; c.nonNull = true; return &c }
func listOf(t *gqlTypeRef) *gqlTypeRef  { return &gqlTypeRef{elem: t} }

// namedType is the type inside any list and non-null wrappers.
func (t *gqlTypeRef) namedType() string {
	for t.elem != nil {
		t = t.elem
	}
	return t.name
}

var gqlScalars = map[string]bool{"ID": true, "String": true, "Int": true, "Boolean": true, "Time": true}

// pipelineStatusEnum is PipelineStatusEnum's values.
var pipelineStatusEnum = []string{"CREATED", "WAITING_FOR_RESOURCE", "PREPARING", "WAITING_FOR_CALLBACK",
	"PENDING", "RUNNING", "FAILED", "SUCCESS", "CANCELED", "CANCELING", "SKIPPED", "MANUAL", "SCHEDULED"}

// gqlConn is a resolved connection page.
type gqlConn struct {
	nodes            []any
	cursors          []string
	total            int
	hasNext, hasPrev bool
}

type gqlEdge struct {
	cursor string
	node   any
}

type gqlComplexityInfo struct{ score, limit int }

var connArgs = map[string]*gqlTypeRef{"first": named("Int"), "last": named("Int"), "after": named("String"), "before": named("String")}

func withConnArgs(extra map[string]*gqlTypeRef) map[string]*gqlTypeRef {
	out := map[string]*gqlTypeRef{}
	for k, v := range connArgs {
		out[k] = v
	}
	for k, v := range extra {
		out[k] = v
	}
	return out
}

// baseResolverExtra is BaseResolver.resolver_complexity beyond its 1: sort
// and search cost more.
func baseResolverExtra(args map[string]any) int {
	n := 0
	if _, ok := args["sort"]; ok {
		n++
	}
	if _, ok := args["search"]; ok {
		n += 5
	}
	return n
}

func connectionType(node string) map[string]*gqlFieldDef {
	return map[string]*gqlFieldDef{
		"nodes": {typ: listOf(named(node)), resolve: func(_ *gqlExec, obj any, _ map[string]any) (any, *gqlError) {
			return obj.(*gqlConn).nodes, nil
		}},
		"edges": {typ: listOf(named(node + "Edge")), resolve: func(_ *gqlExec, obj any, _ map[string]any) (any, *gqlError) {
			c := obj.(*gqlConn)
			out := make([]any, len(c.nodes))
			for i := range c.nodes {
				out[i] = gqlEdge{cursor: c.cursors[i], node: c.nodes[i]}
			}
			return out, nil
		}},
		"pageInfo": {typ: nonNull(named("PageInfo")), resolve: func(_ *gqlExec, obj any, _ map[string]any) (any, *gqlError) {
			return obj, nil
		}},
		"count": {typ: nonNull(named("Int")), resolve: func(_ *gqlExec, obj any, _ map[string]any) (any, *gqlError) {
			return obj.(*gqlConn).total, nil
		}},
	}
}

func edgeType(node string) map[string]*gqlFieldDef {
	return map[string]*gqlFieldDef{
		"cursor": {typ: nonNull(named("String")), resolve: func(_ *gqlExec, obj any, _ map[string]any) (any, *gqlError) {
			return obj.(gqlEdge).cursor, nil
		}},
		"node": {typ: named(node), resolve: func(_ *gqlExec, obj any, _ map[string]any) (any, *gqlError) {
			return obj.(gqlEdge).node, nil
		}},
	}
}

func scalar(get func(obj any) any) func(*gqlExec, any, map[string]any) (any, *gqlError) {
	return func(_ *gqlExec, obj any, _ map[string]any) (any, *gqlError) { return get(obj), nil }
}

// gqlTime is how GitLab's Time scalar writes a time (Time#iso8601).
func gqlTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

var schema = &gqlSchema{
	enums: map[string][]string{"PipelineStatusEnum": pipelineStatusEnum},
	objects: map[string]map[string]*gqlFieldDef{
		"Query": {
			"projects": {
				typ:  named("ProjectConnection"),
				args: withConnArgs(map[string]*gqlTypeRef{"ids": listOf(nonNull(named("ID"))), "membership": named("Boolean"), "search": named("String"), "sort": named("String")}),
				conn: true, resolver: true, extra: baseResolverExtra,
				resolve: func(x *gqlExec, _ any, args map[string]any) (any, *gqlError) { return x.projects(args) },
			},
			"project": {
				typ: named("Project"), args: map[string]*gqlTypeRef{"fullPath": nonNull(named("ID"))},
				resolver: true, extra: baseResolverExtra,
				resolve: func(x *gqlExec, _ any, args map[string]any) (any, *gqlError) {
					pr := x.s.byPath[strings.ToLower(args["fullPath"].(string))]
					if pr == nil || !x.visible(pr) {
						return nil, nil
					}
					return pr, nil
				},
			},
			"queryComplexity": {typ: named("QueryComplexity"), resolve: func(x *gqlExec, _ any, _ map[string]any) (any, *gqlError) {
				return gqlComplexityInfo{score: x.score, limit: x.limit}, nil
			}},
		},
		"QueryComplexity": {
			"score": {typ: named("Int"), resolve: scalar(func(o any) any { return o.(gqlComplexityInfo).score })},
			"limit": {typ: named("Int"), resolve: scalar(func(o any) any { return o.(gqlComplexityInfo).limit })},
		},
		"ProjectConnection":  connectionType("Project"),
		"ProjectEdge":        edgeType("Project"),
		"PipelineConnection": connectionType("Pipeline"),
		"PipelineEdge":       edgeType("Pipeline"),
		"PageInfo": {
			"hasNextPage":     {typ: nonNull(named("Boolean")), resolve: scalar(func(o any) any { return o.(*gqlConn).hasNext })},
			"hasPreviousPage": {typ: nonNull(named("Boolean")), resolve: scalar(func(o any) any { return o.(*gqlConn).hasPrev })},
			"startCursor": {typ: named("String"), resolve: scalar(func(o any) any {
				if c := o.(*gqlConn); len(c.cursors) > 0 {
					return c.cursors[0]
				}
				return nil
			})},
			"endCursor": {typ: named("String"), resolve: scalar(func(o any) any {
				if c := o.(*gqlConn); len(c.cursors) > 0 {
					return c.cursors[len(c.cursors)-1]
				}
				return nil
			})},
		},
		"Project": {
			"id":       {typ: nonNull(named("ID")), resolve: scalar(func(o any) any { return "gid://gitlab/Project/" + strconv.FormatInt(o.(*project).ID, 10) })},
			"fullPath": {typ: nonNull(named("ID")), resolve: scalar(func(o any) any { return o.(*project).Path })},
			"name": {typ: nonNull(named("String")), resolve: scalar(func(o any) any {
				p := o.(*project).Path
				return p[strings.LastIndex(p, "/")+1:]
			})},
			"webUrl": {typ: named("String"), resolve: func(x *gqlExec, o any, _ map[string]any) (any, *gqlError) {
				return x.s.webBase + "/" + o.(*project).Path, nil
			}},
			"pipelines": {
				typ: named("PipelineConnection"),
				args: withConnArgs(map[string]*gqlTypeRef{"status": named("PipelineStatusEnum"), "ref": named("String"), "sha": named("String"),
					"source": named("String"), "username": named("String"), "updatedAfter": named("Time"), "updatedBefore": named("Time")}),
				conn: true, resolver: true,
				// ResolvesPipelines.resolver_complexity: sha and ref cost 2 more.
				extra: func(args map[string]any) int {
					n := baseResolverExtra(args)
					if _, ok := args["sha"]; ok {
						n += 2
					}
					if _, ok := args["ref"]; ok {
						n += 2
					}
					return n
				},
				resolve: func(x *gqlExec, o any, args map[string]any) (any, *gqlError) { return x.pipelines(o.(*project), args) },
			},
		},
		"Pipeline": {
			"id":        {typ: nonNull(named("ID")), resolve: scalar(func(o any) any { return "gid://gitlab/Ci::Pipeline/" + strconv.FormatInt(o.(*pipeline).id, 10) })},
			"iid":       {typ: nonNull(named("String")), resolve: scalar(func(o any) any { return strconv.FormatInt(o.(*pipeline).iid, 10) })},
			"status":    {typ: nonNull(named("PipelineStatusEnum")), resolve: scalar(func(o any) any { return strings.ToUpper(o.(*pipeline).status) })},
			"ref":       {typ: named("String"), resolve: scalar(func(o any) any { return o.(*pipeline).ref })},
			"sha":       {typ: named("String"), resolve: scalar(func(o any) any { return o.(*pipeline).sha })},
			"source":    {typ: named("String"), resolve: scalar(func(o any) any { return o.(*pipeline).source })},
			"createdAt": {typ: nonNull(named("Time")), resolve: scalar(func(o any) any { return gqlTime(o.(*pipeline).createdAt) })},
			"updatedAt": {typ: nonNull(named("Time")), resolve: scalar(func(o any) any { return gqlTime(o.(*pipeline).updatedAt) })},
		},
	},
}

// maxPageSize is GitLab's default_max_page_size.
const maxPageSize = 100

// pageArgs reads first and last; ok is false for a negative one.
func pageArgs(args map[string]any) (first, last int64, hasFirst, hasLast bool) {
	first, hasFirst = args["first"].(int64)
	last, hasLast = args["last"].(int64)
	return
}

// complexity is the query's complexity as GitLab's schema computes it:
// graphql-ruby's Schema::Field#calculate_complexity (a connection's items
// times its page size, plus its metadata: pageInfo and its fields, count)
// and GitLab's Types::BaseField#field_resolver_complexity for fields with
// a resolver (child complexity plus the resolver's, then plus 1% of that
// per item a connection may load).
func (x *gqlExec) complexity(typeName string, sel []*gqlField) int {
	total := 0
	for _, f := range sel {
		total += x.fieldComplexity(typeName, f)
	}
	return total
}

func (x *gqlExec) fieldComplexity(parent string, f *gqlField) int {
	def := schema.objects[parent][f.name]
	if def == nil { // __typename
		return 1
	}
	child := 0
	if _, obj := schema.objects[def.typ.namedType()]; obj {
		child = x.complexity(def.typ.namedType(), f.sel)
	}
	args := x.args[f]
	if !def.conn {
		return ownComplexity(def, args, child, 0)
	}
	first, last, hasFirst, hasLast := pageArgs(args)
	page := int64(maxPageSize)
	switch {
	case hasFirst && hasLast:
		page = max(first, last)
	case hasFirst:
		page = first
	case hasLast:
		page = last
	}
	metadata := 0
	for _, s := range f.sel {
		metadata++ // the subfield's own complexity
		if s.name != "nodes" && s.name != "edges" {
			metadata += len(s.sel)
		}
	}
	sub := int(page)*(child-metadata) + metadata
	limit := int64(maxPageSize)
	if hasFirst {
		limit = min(limit, first)
	}
	if hasLast {
		limit = min(limit, last)
	}
	return ownComplexity(def, args, sub, limit)
}

// ownComplexity applies a field's own complexity to its children's: 1 for
// a plain field, GitLab's resolver proc otherwise (limit is the items a
// connection may load, 0 for other fields).
func ownComplexity(def *gqlFieldDef, args map[string]any, child int, limit int64) int {
	if !def.resolver {
		return 1 + child
	}
	c := float64(child + 1 + def.extra(args))
	c += c * (float64(limit) * 0.01)
	return int(c)
}

// depth is the query's depth as graphql-ruby's QueryDepth counts it.
func depth(sel []*gqlField) int {
	d := 0
	for _, f := range sel {
		if f.name == "__typename" {
			continue
		}
		d = max(d, 1+depth(f.sel))
	}
	return d
}

// cursorOf is a keyset cursor as GitLab's connections write them: base64
// of {"id":"N"}.
func cursorOf(id int64) string {
	b, _ := json.Marshal(map[string]string{"id": strconv.FormatInt(id, 10)})
	return base64.StdEncoding.EncodeToString(b)
}

func idOfCursor(c string) (int64, bool) {
	raw, err := base64.StdEncoding.DecodeString(c)
	if err != nil {
		return 0, false
	}
	var v struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(raw, &v) != nil {
		return 0, false
	}
	id, err := strconv.ParseInt(v.ID, 10, 64)
	return id, err == nil
}

// page cuts one page out of ids (newest first) as first/last/after/before
// ask; objs gives each id's node.
func page(ids []int64, args map[string]any, obj func(int64) any) (*gqlConn, *gqlError) {
	sort.Slice(ids, func(i, k int) bool { return ids[i] > ids[k] })
	first, last, hasFirst, hasLast := pageArgs(args)
	if hasFirst && first < 0 || hasLast && last < 0 {
		return nil, &gqlError{Message: "Argument 'first' and 'last' must be non-negative"}
	}
	window := ids
	after, hasAfter := args["after"].(string)
	before, hasBefore := args["before"].(string)
	if hasAfter {
		id, ok := idOfCursor(after)
		if !ok {
			return nil, &gqlError{Message: "Please provide a valid cursor"}
		}
		i := sort.Search(len(window), func(i int) bool { return window[i] < id })
		window = window[i:]
	}
	if hasBefore {
		id, ok := idOfCursor(before)
		if !ok {
			return nil, &gqlError{Message: "Please provide a valid cursor"}
		}
		i := sort.Search(len(window), func(i int) bool { return window[i] <= id })
		window = window[:i]
	}
	c := &gqlConn{total: len(ids), hasPrev: hasAfter}
	size := int64(maxPageSize)
	if hasFirst {
		size = min(first, maxPageSize)
	}
	start, end := 0, min(int(size), len(window))
	if hasLast && !hasFirst {
		n := min(last, maxPageSize)
		start, end = max(len(window)-int(n), 0), len(window)
		c.hasPrev = c.hasPrev || start > 0
	} else if hasLast {
		start = max(end-int(min(last, maxPageSize)), 0)
	}
	c.hasNext = end < len(window)
	for _, id := range window[start:end] {
		c.nodes = append(c.nodes, obj(id))
		c.cursors = append(c.cursors, cursorOf(id))
	}
	return c, nil
}

// visible is whether the caller reads the project at all (GitLab's
// read_project): a project it cannot see is left out, as ProjectsFinder does.
func (x *gqlExec) visible(pr *project) bool {
	if x.user == nil {
		return pr.visibility() == VisibilityPublic
	}
	_, ok := x.s.projectAccess(pr, x.user)
	return ok
}

// readsPipelines is whether the caller has read_pipeline on pr (needRead's
// rule): PipelinesFinder finds nothing for a caller without it.
func (x *gqlExec) readsPipelines(pr *project) bool {
	level := NoAccess
	if x.user != nil {
		level, _ = x.s.projectAccess(pr, x.user)
	}
	return pr.readsPipelines(level)
}

func (x *gqlExec) projects(args map[string]any) (any, *gqlError) {
	var ids []int64
	if raw, ok := args["ids"].([]any); ok {
		for _, v := range raw {
			id, ok := parseGID(v.(string), "Project")
			if !ok {
				return nil, &gqlError{Message: v.(string) + " is not a valid GitLab ID."}
			}
			if pr := x.s.projects[id]; pr != nil && x.visible(pr) && !contains64(ids, id) {
				ids = append(ids, id)
			}
		}
	} else {
		for id, pr := range x.s.projects {
			if x.visible(pr) {
				ids = append(ids, id)
			}
		}
	}
	var keep []int64
	search, _ := args["search"].(string)
	member, _ := args["membership"].(bool)
	for _, id := range ids {
		pr := x.s.projects[id]
		if search != "" && !strings.Contains(strings.ToLower(pr.Path), strings.ToLower(search)) {
			continue
		}
		if member && (x.user == nil || x.s.memberLevel(pr, x.user.ID) < Guest) {
			continue
		}
		keep = append(keep, id)
	}
	return page(keep, args, func(id int64) any { return x.s.projects[id] })
}

func (x *gqlExec) pipelines(pr *project, args map[string]any) (any, *gqlError) {
	var ids []int64
	if x.readsPipelines(pr) {
		for _, p := range pr.pipelines {
			if pipelineMatches(x.s, p, args) {
				ids = append(ids, p.id)
			}
		}
	}
	return page(ids, args, func(id int64) any { return x.s.pipelines[id] })
}

// pipelineMatches applies PipelinesFinder's filters; updatedAfter and
// updatedBefore are inclusive (UpdatedAtFilterable).
func pipelineMatches(s *Server, p *pipeline, args map[string]any) bool {
	if v, ok := args["status"].(string); ok && strings.ToUpper(p.status) != v {
		return false
	}
	for key, got := range map[string]string{"ref": p.ref, "sha": p.sha, "source": p.source} {
		if v, ok := args[key].(string); ok && v != got {
			return false
		}
	}
	if v, ok := args["username"].(string); ok {
		if u := s.users[p.userID]; u == nil || u.Username != v {
			return false
		}
	}
	if t, ok := args["updatedAfter"].(time.Time); ok && p.updatedAt.Before(t) {
		return false
	}
	if t, ok := args["updatedBefore"].(time.Time); ok && p.updatedAt.After(t) {
		return false
	}
	return true
}

// parseGID reads a global ID "gid://gitlab/<model>/<id>".
func parseGID(gid, model string) (int64, bool) {
	rest, ok := strings.CutPrefix(gid, "gid://gitlab/"+model+"/")
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(rest, 10, 64)
	return id, err == nil && id > 0
}

func contains64(list []int64, v int64) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
