package simulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// GitLab's GraphQL endpoint, POST (or GET) /api/graphql
// (doc/api/graphql/_index.md): the query document is parsed
// (graphql_parse.go), validated against the schema (graphql_schema.go),
// refused when its complexity or depth is over GitLab's limits, then run
// as the token's user. Like GitLab it answers 200 with an "errors" array
// for a query it refuses, a project the caller cannot read is simply left
// out, and each request counts against the API rate limit like a REST one
// (Rack::Attack counts every path under /api).

// GitLab's limits (app/graphql/gitlab_schema.rb).
const (
	gqlAnonymousComplexity     = 200
	gqlAuthenticatedComplexity = 250
	gqlAdminComplexity         = 300
	gqlAnonymousDepth          = 10
	gqlAuthenticatedDepth      = 15
)

// gqlExec is one GraphQL request being validated and run. s.mu is held.
type gqlExec struct {
	s      *Server
	user   *User // nil: anonymous
	op     *gqlOperation
	vars   map[string]any // coerced variable values
	args   map[*gqlField]map[string]any
	errs   []*gqlError
	score  int
	limit  int
	used   map[string]bool
	opName string
}

// gqlObject is a JSON object that keeps its keys in selection order.
type gqlObject struct {
	keys []string
	vals []any
}

func (o *gqlObject) set(k string, v any) {
	for i, key := range o.keys {
		if key == k {
			o.vals[i] = v
			return
		}
	}
	o.keys = append(o.keys, k)
	o.vals = append(o.vals, v)
}

// MarshalJSON writes the object's keys in order.
func (o *gqlObject) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
		vb, err := json.Marshal(o.vals[i])
		if err != nil {
			return nil, err
		}
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func gqlErrors(errs ...*gqlError) map[string]any { return map[string]any{"errors": errs} }

// serveGraphQL answers /api/graphql.
func (s *Server) serveGraphQL(w http.ResponseWriter, r *http.Request, id *identity) {
	var req struct {
		Query         string          `json:"query"`
		Variables     json.RawMessage `json:"variables"`
		OperationName string          `json:"operationName"`
	}
	switch r.Method {
	case http.MethodPost:
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil || json.Unmarshal(body, &req) != nil {
			writeJSON(w, http.StatusBadRequest, gqlErrors(&gqlError{Message: "Request body is not valid JSON"}))
			return
		}
	case http.MethodGet:
		q := r.URL.Query()
		req.Query, req.OperationName = q.Get("query"), q.Get("operationName")
		if v := q.Get("variables"); v != "" {
			req.Variables = json.RawMessage(v)
		}
	default:
		writeJSON(w, http.StatusNotFound, map[string]any{"error": "404 Not Found"})
		return
	}
	vars, ok := decodeVariables(req.Variables)
	if !ok {
		// GraphqlController: Gitlab::Graphql::Variables::Invalid.
		writeJSON(w, http.StatusUnprocessableEntity, gqlErrors(&gqlError{Message: "Variables are not a JSON object"}))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	x := &gqlExec{s: s, limit: gqlAnonymousComplexity, args: map[*gqlField]map[string]any{}, used: map[string]bool{}}
	if id.token != "" {
		// A query only reads: a read_api token may send it.
		ar := r.Clone(r.Context())
		ar.Method = http.MethodGet
		user, aerr := s.authenticate(ar, id)
		if aerr != nil {
			status, msg := aerr.status, "Invalid token"
			if status == http.StatusForbidden {
				msg = "API not accessible for user"
			}
			writeJSON(w, status, gqlErrors(&gqlError{Message: msg}))
			return
		}
		x.user, x.limit = user, gqlAuthenticatedComplexity
		if user.IsAdmin {
			x.limit = gqlAdminComplexity
		}
	}
	writeJSON(w, http.StatusOK, x.run(req.Query, req.OperationName, vars))
}

// decodeVariables reads "variables": an object, null, or a string holding
// a JSON object (GitLab accepts all three).
func decodeVariables(raw json.RawMessage) (map[string]json.RawMessage, bool) {
	out := map[string]json.RawMessage{}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return out, true
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return nil, false
		}
		if strings.TrimSpace(s) == "" {
			return out, true
		}
		raw = json.RawMessage(s)
	}
	return out, json.Unmarshal(raw, &out) == nil
}

// run parses, validates, measures and executes a query.
func (x *gqlExec) run(query, opName string, rawVars map[string]json.RawMessage) map[string]any {
	if strings.TrimSpace(query) == "" {
		return gqlErrors(&gqlError{Message: "No query string was present"})
	}
	doc, perr := parseGraphQL(query)
	if perr != nil {
		return gqlErrors(perr)
	}
	op, err := pickOperation(doc, opName)
	if err != nil {
		return gqlErrors(err)
	}
	if op.kind != "query" {
		return gqlErrors(gqlErrorAt(op.line, op.col, "The GitLab simulator answers queries only, not %ss", op.kind))
	}
	x.op, x.opName = op, "anonymous query"
	if op.name != "" {
		x.opName = "query '" + op.name + "'"
	}
	x.validate(rawVars)
	if len(x.errs) > 0 {
		return gqlErrors(x.errs...)
	}
	maxDepth := gqlAnonymousDepth
	if x.user != nil {
		maxDepth = gqlAuthenticatedDepth
	}
	if d := depth(op.sel); d > maxDepth {
		return gqlErrors(&gqlError{Message: fmt.Sprintf("Query has depth of %d, which exceeds max depth of %d", d, maxDepth)})
	}
	x.score = x.complexity("Query", op.sel)
	if x.score > x.limit {
		return gqlErrors(&gqlError{Message: fmt.Sprintf("Query has complexity of %d, which exceeds max complexity of %d", x.score, x.limit)})
	}
	data := x.object("Query", nil, op.sel, nil)
	out := map[string]any{"data": data}
	if len(x.errs) > 0 {
		out["errors"] = x.errs
	}
	return out
}

func pickOperation(doc *gqlDocument, name string) (*gqlOperation, *gqlError) {
	if name == "" {
		if len(doc.ops) > 1 {
			return nil, &gqlError{Message: "An operation name is required"}
		}
		return doc.ops[0], nil
	}
	for _, op := range doc.ops {
		if op.name == name {
			return op, nil
		}
	}
	return nil, &gqlError{Message: fmt.Sprintf("No operation named %q", name)}
}

// object runs a selection set on obj of type typeName.
func (x *gqlExec) object(typeName string, obj any, sel []*gqlField, path []any) *gqlObject {
	out := &gqlObject{}
	for _, f := range sel {
		fpath := append(append([]any(nil), path...), f.key())
		if f.name == "__typename" {
			out.set(f.key(), typeName)
			continue
		}
		def := schema.objects[typeName][f.name]
		val, err := def.resolve(x, obj, x.args[f])
		if err != nil {
			err.Locations = []gqlLocation{{Line: f.line, Column: f.col}}
			err.Path = fpath
			x.errs = append(x.errs, err)
			out.set(f.key(), nil)
			continue
		}
		out.set(f.key(), x.value(def.typ.namedType(), val, f.sel, fpath))
	}
	return out
}

// value renders a resolved value: objects through their selections,
// lists element by element, scalars as they are.
func (x *gqlExec) value(typeName string, val any, sel []*gqlField, path []any) any {
	if val == nil {
		return nil
	}
	if list, ok := val.([]any); ok {
		out := make([]any, len(list))
		for i, e := range list {
			out[i] = x.value(typeName, e, sel, append(append([]any(nil), path...), i))
		}
		return out
	}
	if _, object := schema.objects[typeName]; object {
		if p, ok := val.(*project); ok && p == nil {
			return nil
		}
		return x.object(typeName, val, sel, path)
	}
	if t, ok := val.(time.Time); ok {
		return gqlTime(t)
	}
	return val
}
