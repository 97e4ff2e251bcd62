package simulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// writePage writes one page of items with GitLab's offset pagination
// headers (doc/api/rest/index.md#pagination).
func writePage[T any](c *call, items []T) *apiError {
	q := c.r.URL.Query()
	page, perPage := 1, 20
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return paramError("page is invalid")
		}
		if n > 1 {
			page = n
		}
	}
	if v := q.Get("per_page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return paramError("per_page is invalid")
		}
		if n > 0 {
			perPage = min(n, 100)
		}
	}
	total := len(items)
	totalPages := max(1, (total+perPage-1)/perPage)
	h := c.w.Header()
	h.Set("X-Page", strconv.Itoa(page))
	h.Set("X-Per-Page", strconv.Itoa(perPage))
	h.Set("X-Total", strconv.Itoa(total))
	h.Set("X-Total-Pages", strconv.Itoa(totalPages))
	h.Set("X-Next-Page", "")
	h.Set("X-Prev-Page", "")
	if page < totalPages {
		h.Set("X-Next-Page", strconv.Itoa(page+1))
	}
	if page > 1 {
		h.Set("X-Prev-Page", strconv.Itoa(min(page-1, totalPages)))
	}
	link := func(n int, rel string) string {
		lq := c.r.URL.Query()
		lq.Set("page", strconv.Itoa(n))
		lq.Set("per_page", strconv.Itoa(perPage))
		return fmt.Sprintf("<%s%s?%s>; rel=%q", baseURL(c.r), c.r.URL.EscapedPath(), lq.Encode(), rel)
	}
	var links []string
	if page > 1 {
		links = append(links, link(min(page-1, totalPages), "prev"))
	}
	if page < totalPages {
		links = append(links, link(page+1, "next"))
	}
	links = append(links, link(1, "first"), link(totalPages, "last"))
	h.Set("Link", strings.Join(links, ", "))
	start := min((page-1)*perPage, total)
	end := min(start+perPage, total)
	out := items[start:end]
	if out == nil {
		out = []T{}
	}
	writeJSON(c.w, http.StatusOK, out)
	return nil
}

// baseURL is the scheme and host the request was sent to.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p == "http" || p == "https" {
		scheme = p
	}
	return scheme + "://" + r.Host
}

// params are a request's parameters from the query, a form body or a JSON
// body, the ways GitLab's Grape API accepts them.
type params struct {
	values url.Values
	json   map[string]json.RawMessage
}

func readParams(r *http.Request) (*params, *apiError) {
	p := &params{values: r.URL.Query()}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/json":
		body, err := io.ReadAll(io.LimitReader(r.Body, 10<<20))
		if err != nil {
			return nil, paramError("body is invalid")
		}
		if len(bytes.TrimSpace(body)) > 0 {
			if err := json.Unmarshal(body, &p.json); err != nil {
				return nil, msgError(http.StatusBadRequest, "400 Bad request - JSON body is invalid")
			}
		}
	case "application/x-www-form-urlencoded", "multipart/form-data":
		if err := r.ParseMultipartForm(10 << 20); err != nil && err != http.ErrNotMultipart {
			return nil, paramError("body is invalid")
		}
		for k, v := range r.PostForm {
			p.values[k] = v
		}
	}
	return p, nil
}

func (p *params) get(key string) string {
	if raw, ok := p.json[key]; ok {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
		return strings.Trim(string(raw), `"`)
	}
	return p.values.Get(key)
}

var formHashRe = regexp.MustCompile(`^(\w+)\[(\w+)\]$`)

// hash reads a Grape Hash parameter: a JSON object (any JSON types) or form
// fields name[key]=value (strings). It returns nil when the parameter is
// absent.
func (p *params) hash(name string) (map[string]any, *apiError) {
	if raw, ok := p.json[name]; ok {
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, paramError(name + " is invalid")
		}
		return m, nil
	}
	var m map[string]any
	for k, vs := range p.values {
		if sm := formHashRe.FindStringSubmatch(k); sm != nil && sm[1] == name && len(vs) > 0 {
			if m == nil {
				m = map[string]any{}
			}
			m[sm[2]] = vs[0]
		}
	}
	return m, nil
}

var formVarRe = regexp.MustCompile(`^(\w+)\[(\d*)\]\[(\w+)\]$`)

// variables reads an array of {key, value, variable_type} from JSON or from
// form fields like variables[][key]=K&variables[][value]=V. It returns nil
// when the parameter is absent.
func (p *params) variables(name string) ([]Variable, *apiError) {
	var vars []Variable
	if raw, ok := p.json[name]; ok {
		if err := json.Unmarshal(raw, &vars); err != nil {
			return nil, paramError(name + " is invalid")
		}
	} else {
		byIndex := map[string]map[string][]string{}
		var order []string
		for k, vs := range p.values {
			m := formVarRe.FindStringSubmatch(k)
			if m == nil || m[1] != name {
				continue
			}
			if _, ok := byIndex[m[2]]; !ok {
				byIndex[m[2]] = map[string][]string{}
				order = append(order, m[2])
			}
			byIndex[m[2]][m[3]] = vs
		}
		sort.Slice(order, func(i, k int) bool {
			a, _ := strconv.Atoi(order[i])
			b, _ := strconv.Atoi(order[k])
			return a < b
		})
		for _, idx := range order {
			fields := byIndex[idx]
			for i, key := range fields["key"] {
				v := Variable{Key: key}
				if i < len(fields["value"]) {
					v.Value = fields["value"][i]
				}
				if i < len(fields["variable_type"]) {
					v.VariableType = fields["variable_type"][i]
				}
				vars = append(vars, v)
			}
		}
		if len(order) == 0 {
			return nil, nil
		}
	}
	for i := range vars {
		if vars[i].Key == "" {
			return nil, paramError(name + "[key] is missing")
		}
		switch vars[i].VariableType {
		case "":
			vars[i].VariableType = "env_var"
		case "env_var", "file":
		default:
			return nil, paramError(name + "[variable_type] does not have a valid value")
		}
	}
	if vars == nil {
		vars = []Variable{}
	}
	return vars, nil
}
