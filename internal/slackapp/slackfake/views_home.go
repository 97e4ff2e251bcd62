package slackfake

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// maxHomeBlocks is Slack's limit on the blocks of a Home tab view, the same
// as a modal's. https://docs.slack.dev/reference/views/home-tab-views
const maxHomeBlocks = 100

// validateHome checks a views.publish view the way Slack does: a home view
// of at most 100 valid blocks.
func validateHome(raw json.RawMessage) (map[string]json.RawMessage, *slackError) {
	var v viewShape
	var fields map[string]json.RawMessage
	if json.Unmarshal(raw, &v) != nil || json.Unmarshal(raw, &fields) != nil {
		return nil, failWith("invalid_arguments", "[ERROR] view must be an object [json-pointer:/view]")
	}
	var msgs []string
	if v.Type != "home" {
		msgs = append(msgs, "[ERROR] must be home [json-pointer:/view/type]")
	}
	if utf8.RuneCountInString(v.PrivateMetadata) > maxPrivateMetadata {
		msgs = append(msgs, fmt.Sprintf("[ERROR] must be less than %d characters [json-pointer:/view/private_metadata]", maxPrivateMetadata+1))
	}
	if b, ok := fields["blocks"]; ok && string(b) != "null" {
		msgs = append(msgs, validateBlocks(b, maxHomeBlocks, "/view/blocks")...)
	} else {
		msgs = append(msgs, "[ERROR] missing required field: blocks [json-pointer:/view]")
	}
	if len(msgs) > 0 {
		return nil, failWith("invalid_arguments", msgs...)
	}
	return fields, nil
}

// viewsPublish stores the Home tab view of user_id
// (https://docs.slack.dev/reference/methods/views.publish): user_id is
// required, a hash that is not the current view's answers hash_conflict,
// and each publish gives the view a new hash.
func (s *Server) viewsPublish(req *apiRequest, c *Call) (map[string]any, *slackError) {
	user := req.str("user_id")
	c.User = user
	if user == "" {
		return nil, failWith("invalid_arguments", "[ERROR] missing required field: user_id")
	}
	raw, ok, err := req.raw("view")
	if err != nil || !ok {
		return nil, failWith("invalid_arguments", "[ERROR] missing required field: view")
	}
	fields, e := validateHome(raw)
	if e != nil {
		return nil, e
	}
	v := s.homes[user]
	if hash := req.str("hash"); hash != "" && (v == nil || hash != v.hash) {
		return nil, fail("hash_conflict")
	}
	if v == nil {
		s.seq++
		v = &storedView{id: fmt.Sprintf("V%06d", s.seq)}
		s.homes[user] = v
	}
	v.view = fields
	s.rehash(v)
	return map[string]any{"view": s.viewJSON(v)}, nil
}

// HomeView returns the Home tab view last published for user (its JSON as
// views.publish answered it) and whether there is one.
func (s *Server) HomeView(user string) (json.RawMessage, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.homes[user]
	if v == nil {
		return nil, false
	}
	b, err := json.Marshal(s.viewJSON(v))
	if err != nil {
		return nil, false
	}
	return b, true
}
