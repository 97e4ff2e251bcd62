package slackfake

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// apiRequest is a Web API call's parameters, from a form body (what slack-go
// sends for most methods, with JSON-valued fields such as blocks as strings),
// a JSON body (views.*) or the query string (GET).
type apiRequest struct {
	form   url.Values
	json   map[string]json.RawMessage
	isJSON bool
	token  string
}

// slackError is an ok:false answer; fields are merged into the response.
type slackError struct {
	code   string
	fields map[string]any
}

func fail(code string) *slackError { return &slackError{code: code} }

// failWith answers code with Slack's response_metadata.messages, which
// explain validation errors such as invalid_blocks.
func failWith(code string, messages ...string) *slackError {
	return &slackError{code: code, fields: map[string]any{
		"response_metadata": map[string]any{"messages": messages},
	}}
}

type handler func(s *Server, req *apiRequest, c *Call) (map[string]any, *slackError)

// handlers are the Web API methods the fake knows. Anything else answers
// unknown_method, like Slack.
var handlers = map[string]handler{
	"auth.test":                    (*Server).authTest,
	"chat.postMessage":             (*Server).postMessage,
	"chat.postEphemeral":           (*Server).postEphemeral,
	"chat.update":                  (*Server).update,
	"chat.delete":                  (*Server).delete,
	"chat.unfurl":                  (*Server).unfurl,
	"conversations.history":        (*Server).history,
	"conversations.replies":        (*Server).replies,
	"conversations.info":           (*Server).conversationInfo,
	"views.open":                   (*Server).viewsOpen,
	"views.update":                 (*Server).viewsUpdate,
	"views.publish":                (*Server).viewsPublish,
	"users.info":                   (*Server).usersInfo,
	"users.lookupByEmail":          (*Server).usersLookupByEmail,
	"files.getUploadURLExternal":   (*Server).getUploadURL,
	"files.completeUploadExternal": (*Server).completeUpload,
	"apps.connections.open":        (*Server).connectionsOpen,
}

func parseAPIRequest(r *http.Request, body []byte) (*apiRequest, error) {
	req := &apiRequest{form: url.Values{}}
	if auth := r.Header.Get("Authorization"); strings.HasPrefix(auth, "Bearer ") {
		req.token = strings.TrimPrefix(auth, "Bearer ")
	}
	for k, v := range r.URL.Query() {
		req.form[k] = v
	}
	ctype, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case len(body) == 0:
	case ctype == "application/json":
		req.isJSON = true
		if err := json.Unmarshal(body, &req.json); err != nil {
			return req, err
		}
	default:
		vals, err := url.ParseQuery(string(body))
		if err != nil {
			return req, err
		}
		for k, v := range vals {
			req.form[k] = v
		}
	}
	if req.token == "" {
		req.token = req.str("token")
	}
	return req, nil
}

// has reports whether the parameter was sent at all.
func (r *apiRequest) has(name string) bool {
	if _, ok := r.json[name]; ok {
		return true
	}
	_, ok := r.form[name]
	return ok
}

// str returns a parameter as a string: JSON strings unquoted, other JSON
// values as their text.
func (r *apiRequest) str(name string) string {
	if raw, ok := r.json[name]; ok {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
		return string(raw)
	}
	return r.form.Get(name)
}

// flag reads a boolean the way Slack does ("true" or "1").
func (r *apiRequest) flag(name string) bool {
	v := strings.ToLower(r.str(name))
	return v == "true" || v == "1"
}

// raw returns a JSON-valued parameter (blocks, metadata, view): in a form it
// is a JSON string, in a JSON body either an embedded value or a string
// holding JSON. ok is false when it is absent, null or empty; err when it is
// not JSON.
func (r *apiRequest) raw(name string) (_ json.RawMessage, ok bool, _ error) {
	var text string
	if v, found := r.json[name]; found {
		var s string
		if json.Unmarshal(v, &s) != nil {
			text = string(v)
		} else {
			text = s
		}
	} else {
		text = r.form.Get(name)
	}
	text = strings.TrimSpace(text)
	if text == "" || text == "null" {
		return nil, false, nil
	}
	if !json.Valid([]byte(text)) {
		return nil, false, errors.New(name + " is not valid JSON")
	}
	return json.RawMessage(text), true, nil
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request, method string) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAPIBody))
	if err != nil {
		writeJSON(w, http.StatusRequestEntityTooLarge, map[string]any{"ok": false, "error": "request_too_large"})
		return
	}
	req, perr := parseAPIRequest(r, body)

	c := Call{Method: method, Body: string(body)}
	c.Channel = req.str("channel")
	if c.Channel == "" {
		c.Channel = req.str("channel_id")
	}
	c.TS = req.str("ts")
	c.ThreadTS = req.str("thread_ts")
	c.User = req.str("user")
	c.Text = req.str("text")
	c.Broadcast = req.flag("reply_broadcast")
	c.TriggerID = req.str("trigger_id")
	if b, ok, _ := req.raw("blocks"); ok {
		c.Blocks = b
	}
	if m, ok, _ := req.raw("metadata"); ok && metadataEventType(m) != "" {
		c.Metadata = m
	}
	if v, ok, _ := req.raw("view"); ok {
		c.View = v
	}

	s.subMu.Lock()
	defer s.subMu.Unlock()
	s.mu.Lock()
	status, resp := s.dispatch(w, method, req, perr, &c)
	subs := s.recordLocked(c)
	s.mu.Unlock()

	writeJSON(w, status, resp)
	for _, fn := range subs {
		fn(c)
	}
}

// dispatch answers one Web API call. Callers hold mu.
func (s *Server) dispatch(w http.ResponseWriter, method string, req *apiRequest, perr error, c *Call) (int, map[string]any) {
	if after, limited := s.takeRateLimit(method); limited {
		c.Error = "ratelimited"
		// slack-go reads Retry-After (seconds) into RateLimitedError.
		w.Header().Set("Retry-After", retryAfterHeader(after))
		return http.StatusTooManyRequests, map[string]any{"ok": false, "error": "ratelimited"}
	}
	h, known := handlers[method]
	if !known {
		return answerError(c, fail("unknown_method"))
	}
	if e := s.checkToken(method, req.token); e != nil {
		return answerError(c, e)
	}
	if perr != nil {
		return answerError(c, fail("invalid_form_data"))
	}
	if code := s.takeFailure(method); code != "" {
		return answerError(c, fail(code))
	}
	resp, e := h(s, req, c)
	if e != nil {
		return answerError(c, e)
	}
	if resp == nil {
		resp = map[string]any{}
	}
	resp["ok"] = true
	return http.StatusOK, resp
}

func answerError(c *Call, e *slackError) (int, map[string]any) {
	c.Error = e.code
	resp := map[string]any{"ok": false, "error": e.code}
	for k, v := range e.fields {
		resp[k] = v
	}
	return http.StatusOK, resp
}

// checkToken answers like Slack: no token is not_authed, an unknown one
// invalid_auth, and a known token of the wrong kind (app token on a bot
// method or the reverse) not_allowed_token_type.
func (s *Server) checkToken(method, token string) *slackError {
	want := s.opts.BotToken
	other := s.opts.AppToken
	if method == "apps.connections.open" {
		want, other = s.opts.AppToken, s.opts.BotToken
	}
	switch {
	case token == "":
		return fail("not_authed")
	case want != "" && token == want:
		return nil
	case other != "" && token == other:
		return fail("not_allowed_token_type")
	default:
		return fail("invalid_auth")
	}
}

func (s *Server) authTest(_ *apiRequest, _ *Call) (map[string]any, *slackError) {
	return map[string]any{
		"url":     s.baseURL + "/",
		"team":    "pipebot",
		"user":    "pipebot",
		"team_id": s.opts.TeamID,
		"user_id": s.opts.BotUserID,
		"bot_id":  s.opts.BotID,
	}, nil
}

func (s *Server) usersInfo(req *apiRequest, _ *Call) (map[string]any, *slackError) {
	id := req.str("user")
	for _, u := range s.users {
		if u.ID == id {
			return map[string]any{"user": s.userJSON(u)}, nil
		}
	}
	return nil, fail("user_not_found")
}

func (s *Server) usersLookupByEmail(req *apiRequest, _ *Call) (map[string]any, *slackError) {
	email := req.str("email")
	for _, u := range s.users {
		if email != "" && strings.EqualFold(u.Email, email) {
			return map[string]any{"user": s.userJSON(u)}, nil
		}
	}
	return nil, fail("users_not_found")
}

func (s *Server) userJSON(u User) map[string]any {
	return map[string]any{
		"id":        u.ID,
		"team_id":   s.opts.TeamID,
		"name":      u.Name,
		"real_name": u.RealName,
		"deleted":   false,
		"is_bot":    false,
		"profile": map[string]any{
			"email":        u.Email,
			"real_name":    u.RealName,
			"display_name": u.Name,
		},
	}
}

func (s *Server) conversationInfo(req *apiRequest, _ *Call) (map[string]any, *slackError) {
	id := req.str("channel")
	if id == "" {
		return nil, fail("channel_not_found")
	}
	ch, ok := s.channels[id]
	if !ok {
		ch = Channel{ID: id, Name: strings.ToLower(id), Private: strings.HasPrefix(id, "G")}
	}
	im := strings.HasPrefix(id, "D")
	return map[string]any{"channel": map[string]any{
		"id":         id,
		"name":       ch.Name,
		"is_channel": !im && !ch.Private,
		"is_group":   ch.Private,
		"is_im":      im,
		"is_private": ch.Private || im,
		"is_member":  !s.notIn[id],
	}}, nil
}
