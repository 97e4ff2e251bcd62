package slackfake

import (
	"encoding/json"
	"slices"
)

// Unfurl is the preview an app attached to one shared link with
// chat.unfurl: to a posted message (Channel, TS) or by UnfurlID and Source.
type Unfurl struct {
	Channel, TS, UnfurlID, Source, URL string
	// Blocks is the preview's blocks JSON; Fallback its attachment fallback text.
	Blocks   json.RawMessage
	Fallback string
}

// unfurl answers chat.unfurl (https://docs.slack.dev/reference/methods/chat.unfurl):
// channel and ts, or unfurl_id and source, and a JSON object of previews keyed
// by URL. The previews are recorded on the call; Unfurls reads them back.
func (s *Server) unfurl(req *apiRequest, c *Call) (map[string]any, *slackError) {
	c.UnfurlID, c.Source = req.str("unfurl_id"), req.str("source")
	byID := c.UnfurlID != "" || c.Source != ""
	switch {
	case byID && (c.UnfurlID == "" || c.Source == ""):
		return nil, fail("invalid_arguments")
	case byID && c.Source != "composer" && c.Source != "conversations_history":
		return nil, fail("invalid_source")
	case !byID && c.Channel == "":
		return nil, fail("channel_not_found")
	case !byID && c.TS == "":
		return nil, fail("invalid_ts")
	}
	raw, ok, err := req.raw("unfurls")
	if err != nil {
		return nil, fail("invalid_unfurls_format")
	}
	if !ok {
		return nil, fail("missing_unfurls")
	}
	var previews map[string]json.RawMessage
	if json.Unmarshal(raw, &previews) != nil {
		return nil, fail("invalid_unfurls_format")
	}
	for u, p := range previews {
		var att struct {
			Blocks json.RawMessage `json:"blocks"`
		}
		if json.Unmarshal(p, &att) != nil {
			return nil, fail("invalid_unfurls_format")
		}
		if len(att.Blocks) > 0 && string(att.Blocks) != "null" {
			if msgs := validateBlocks(att.Blocks, maxMessageBlocks, "/unfurls/"+u+"/blocks"); len(msgs) > 0 {
				return nil, failWith("invalid_blocks", msgs...)
			}
		}
	}
	c.Unfurls = raw
	return map[string]any{}, nil
}

// Unfurls returns the previews attached so far, one per target and URL (a
// later chat.unfurl for the same message and URL replaces the earlier one,
// as Slack does), in the order first attached.
func (s *Server) Unfurls() []Unfurl {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Unfurl
	for _, c := range s.calls {
		if c.Method != "chat.unfurl" || c.Error != "" || len(c.Unfurls) == 0 {
			continue
		}
		var previews map[string]struct {
			Blocks   json.RawMessage `json:"blocks"`
			Fallback string          `json:"fallback"`
		}
		if json.Unmarshal(c.Unfurls, &previews) != nil {
			continue
		}
		urls := make([]string, 0, len(previews))
		for u := range previews {
			urls = append(urls, u)
		}
		slices.Sort(urls)
		for _, u := range urls {
			p := previews[u]
			next := Unfurl{URL: u, Blocks: p.Blocks, Fallback: p.Fallback, UnfurlID: c.UnfurlID, Source: c.Source}
			if c.UnfurlID == "" {
				next.Channel, next.TS = c.Channel, c.TS
			}
			i := slices.IndexFunc(out, func(o Unfurl) bool {
				return o.URL == u && o.Channel == next.Channel && o.TS == next.TS && o.UnfurlID == next.UnfurlID && o.Source == next.Source
			})
			if i >= 0 {
				out[i] = next
			} else {
				out = append(out, next)
			}
		}
	}
	return out
}
