package slackfake

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// Modal limits Slack enforces; private_metadata is where apps most often
// overflow. https://docs.slack.dev/reference/views
const (
	maxModalBlocks     = 100
	maxModalTitle      = 24
	maxPrivateMetadata = 3000
	maxCallbackID      = 255
)

type viewShape struct {
	Type            string      `json:"type"`
	Title           *textObject `json:"title"`
	CallbackID      string      `json:"callback_id"`
	PrivateMetadata string      `json:"private_metadata"`
	ExternalID      string      `json:"external_id"`
}

func validateView(raw json.RawMessage) (map[string]json.RawMessage, *slackError) {
	var v viewShape
	var fields map[string]json.RawMessage
	if json.Unmarshal(raw, &v) != nil || json.Unmarshal(raw, &fields) != nil {
		return nil, failWith("invalid_arguments", "[ERROR] view must be an object [json-pointer:/view]")
	}
	var msgs []string
	if v.Type != "modal" {
		msgs = append(msgs, "[ERROR] must be modal [json-pointer:/view/type]")
	}
	if v.Title == nil || v.Title.Text == "" || utf8.RuneCountInString(v.Title.Text) > maxModalTitle {
		msgs = append(msgs, fmt.Sprintf("[ERROR] must be between 1 and %d characters [json-pointer:/view/title/text]", maxModalTitle))
	}
	if utf8.RuneCountInString(v.PrivateMetadata) > maxPrivateMetadata {
		msgs = append(msgs, fmt.Sprintf("[ERROR] must be less than %d characters [json-pointer:/view/private_metadata]", maxPrivateMetadata+1))
	}
	if utf8.RuneCountInString(v.CallbackID) > maxCallbackID {
		msgs = append(msgs, fmt.Sprintf("[ERROR] must be less than %d characters [json-pointer:/view/callback_id]", maxCallbackID+1))
	}
	if b, ok := fields["blocks"]; ok && string(b) != "null" {
		msgs = append(msgs, validateBlocks(b, maxModalBlocks, "/view/blocks")...)
	}
	if len(msgs) > 0 {
		return nil, failWith("invalid_arguments", msgs...)
	}
	return fields, nil
}

func (s *Server) viewsOpen(req *apiRequest, c *Call) (map[string]any, *slackError) {
	if c.TriggerID == "" {
		return nil, fail("invalid_trigger_id")
	}
	raw, ok, err := req.raw("view")
	if err != nil || !ok {
		return nil, fail("invalid_arguments")
	}
	fields, e := validateView(raw)
	if e != nil {
		return nil, e
	}
	s.seq++
	v := &storedView{id: fmt.Sprintf("V%06d", s.seq), view: fields}
	if ext, ok := fields["external_id"]; ok {
		_ = json.Unmarshal(ext, &v.externalID)
	}
	if v.externalID != "" {
		for _, other := range s.views {
			if other.externalID == v.externalID {
				return nil, fail("duplicate_external_id")
			}
		}
	}
	s.rehash(v)
	s.views[v.id] = v
	return map[string]any{"view": s.viewJSON(v)}, nil
}

func (s *Server) viewsUpdate(req *apiRequest, _ *Call) (map[string]any, *slackError) {
	id, ext, hash := req.str("view_id"), req.str("external_id"), req.str("hash")
	var v *storedView
	for _, cand := range s.views {
		if (id != "" && cand.id == id) || (id == "" && ext != "" && cand.externalID == ext) {
			v = cand
		}
	}
	if v == nil {
		return nil, fail("not_found")
	}
	if hash != "" && hash != v.hash {
		return nil, fail("hash_conflict")
	}
	raw, ok, err := req.raw("view")
	if err != nil || !ok {
		return nil, fail("invalid_arguments")
	}
	fields, e := validateView(raw)
	if e != nil {
		return nil, e
	}
	v.view = fields
	s.rehash(v)
	return map[string]any{"view": s.viewJSON(v)}, nil
}

// rehash gives a view a new hash, as Slack does on every change, so a stale
// views.update answers hash_conflict. Callers hold mu.
func (s *Server) rehash(v *storedView) {
	s.seq++
	v.hash = fmt.Sprintf("h%06d", s.seq)
}

func (s *Server) viewJSON(v *storedView) map[string]any {
	out := map[string]any{}
	for k, val := range v.view {
		out[k] = val
	}
	out["id"] = v.id
	out["team_id"] = s.opts.TeamID
	out["hash"] = v.hash
	out["root_view_id"] = v.id
	out["bot_id"] = s.opts.BotID
	out["state"] = map[string]any{"values": map[string]any{}}
	if v.externalID != "" {
		out["external_id"] = v.externalID
	}
	return out
}
