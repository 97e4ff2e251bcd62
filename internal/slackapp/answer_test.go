package slackapp

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// stubAnswerer answers options with one option and view submissions with
// errors unless the view's callback is "ok".
type stubAnswerer struct{ seen []Request }

func (s *stubAnswerer) Answer(_ context.Context, req Request) (any, bool) {
	s.seen = append(s.seen, req)
	if req.Kind == KindOptions {
		return map[string]any{"options": []map[string]any{{"value": "typed:" + req.Text}}}, false
	}
	if req.View != nil && req.View.CallbackID == "ok" {
		return nil, true
	}
	return map[string]any{"response_action": "errors", "errors": map[string]string{"ref": "no such ref"}}, false
}

const suggestionPayload = `{"type":"block_suggestion","action_id":"value","block_id":"ref","value":"rel","user":{"id":"U1"},"team":{"id":"T1"},"view":{"callback_id":"pipebot_run","private_metadata":"{}"}}`

func TestHTTPAnswersOptionsAndViewErrorsInTheBody(t *testing.T) {
	h := newHarness(t, PoolConfig{}, nil)
	ans := &stubAnswerer{}
	h.h = NewHTTP(HTTPConfig{SigningSecret: testSecret, Pool: h.pool, Now: func() time.Time { return testNow }, Logger: zerolog.Nop(), Answerer: ans})
	cases := []struct {
		name, path, payload, wantBody string
		wantHandled                   int
	}{
		{"options come back in the body", PathOptions, suggestionPayload, `{"options":[{"value":"typed:rel"}]}` + "\n", 0},
		{"view errors keep the form open and submit nothing", PathInteractions,
			`{"type":"view_submission","trigger_id":"t1","user":{"id":"U1"},"view":{"callback_id":"bad"}}`,
			`{"errors":{"ref":"no such ref"},"response_action":"errors"}` + "\n", 0},
		{"an accepted view closes and is submitted", PathInteractions,
			`{"type":"view_submission","trigger_id":"t2","user":{"id":"U1"},"view":{"callback_id":"ok"}}`, "", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(h.rec.got())
			w := h.post(tc.path, formType, interactionBody(tc.payload), testNow, nil)
			h.pool.Wait()
			if w.Code != http.StatusOK || w.Body.String() != tc.wantBody {
				t.Fatalf("response = %d %q, want %q", w.Code, w.Body.String(), tc.wantBody)
			}
			if n := len(h.rec.got()) - before; n != tc.wantHandled {
				t.Errorf("submitted %d requests, want %d", n, tc.wantHandled)
			}
		})
	}
	if r := ans.seen[0]; r.Kind != KindOptions || r.Text != "rel" || r.ActionID != "value" || r.UserID != "U1" || r.View == nil || r.View.CallbackID != "pipebot_run" {
		t.Errorf("options request = %+v", r)
	}
	// Unsigned, the options URL does nothing.
	if w := h.post(PathOptions, formType, interactionBody(suggestionPayload), time.Time{}, nil); w.Code != http.StatusUnauthorized || len(ans.seen) != 3 {
		t.Errorf("unsigned options: %d, answerer called %d times", w.Code, len(ans.seen))
	}
}

func TestHTTPOptionsWithoutAnswererIsAnEmptyList(t *testing.T) {
	h := newHarness(t, PoolConfig{}, nil)
	w := h.post(PathOptions, formType, interactionBody(suggestionPayload), testNow, nil)
	h.pool.Wait()
	if w.Code != http.StatusOK || w.Body.String() != `{"options":[]}` || len(h.rec.got()) != 0 {
		t.Fatalf("response = %d %q, handled %d", w.Code, w.Body.String(), len(h.rec.got()))
	}
}
