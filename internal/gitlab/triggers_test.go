package gitlab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestTriggersDecodeTheDocumentedShape(t *testing.T) {
	f := newFake(t, map[string][]http.HandlerFunc{
		"GET /api/v4/projects/g%2Fapp/triggers": {reply(200, fixture(t, "triggers_list.json"))},
	})
	c, _ := newTestClient(t, f.srv.URL)
	ts, err := c.Triggers(context.Background(), "g/app")
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 1 || ts[0].ID != 10 || ts[0].Description != "my trigger" || ts[0].Token.Reveal() != "6d056f63e50fe6f8c5f8f4aa10edb7" {
		t.Fatalf("decoded %+v", ts)
	}
	if !ts[0].FullToken() || ts[0].LastUsed != nil || ts[0].Owner.ID != 0 {
		t.Errorf("full token, null last_used and null owner expected: %+v", ts[0])
	}
}

func TestShortTriggerTokenIsRecognisedAndNeverSent(t *testing.T) {
	short := Trigger{Token: "6d05"}
	if short.FullToken() {
		t.Fatal("a 4-character token was taken as the whole token")
	}
	f := newFake(t, nil)
	c, _ := newTestClient(t, f.srv.URL)
	_, err := c.TriggerPipeline(context.Background(), "g/app", short.Token, "main", nil, nil)
	if !errors.Is(err, ErrShortToken) {
		t.Fatalf("err = %v, want ErrShortToken", err)
	}
}

func TestTriggerPipelineSendsTokenAndVariablesInTheBody(t *testing.T) {
	const token = "glptt-SENTINEL-trigger-token-000000000001"
	var body map[string]any
	var rawQuery string
	f := newFake(t, map[string][]http.HandlerFunc{
		"POST /api/v4/projects/g%2Fapp/trigger/pipeline": {func(w http.ResponseWriter, r *http.Request) {
			rawQuery = r.URL.RawQuery
			b, _ := io.ReadAll(r.Body)
			_ = json.Unmarshal(b, &body)
			reply(201, fixture(t, "trigger_pipeline_response.json"))(w, r)
		}},
	})
	c, _ := newTestClient(t, f.srv.URL)
	p, err := c.TriggerPipeline(context.Background(), "g/app", token, "main", []Variable{{Key: "ZONE", Value: "us-west1"}}, []Input{TypedInput("replicas", "2")})
	if err != nil {
		t.Fatal(err)
	}
	if in, _ := body["inputs"].(map[string]any); len(in) != 1 || in["replicas"] != float64(2) {
		t.Errorf("inputs %v, want replicas as the number 2", body["inputs"])
	}
	if p.ID != 257 || p.Source != "trigger" || p.Status != StatusCreated {
		t.Errorf("pipeline %+v", p)
	}
	if strings.Contains(rawQuery, "glptt") {
		t.Errorf("token in the URL: %q", rawQuery)
	}
	vars, _ := body["variables"].(map[string]any)
	if body["token"] != token || body["ref"] != "main" || vars["ZONE"] != "us-west1" {
		t.Errorf("body %v", body)
	}
}

func TestTriggerPipelineRetriesOn429OnlyAndKeepsTheTokenOutOfErrors(t *testing.T) {
	const token = "glptt-SENTINEL-trigger-token-000000000002"
	echo := func(w http.ResponseWriter, r *http.Request) {
		// A misbehaving proxy that echoes the request: the token must still
		// not reach the error.
		b, _ := io.ReadAll(r.Body)
		reply(400, fmt.Sprintf(`{"message":%q}`, string(b)))(w, r)
	}
	tests := []struct {
		name     string
		handlers []http.HandlerFunc
		calls    int
	}{
		{"502 is not retried", []http.HandlerFunc{reply(502, `{"message":"bad gateway"}`)}, 1},
		{"429 is retried", []http.HandlerFunc{reply(429, "", "Retry-After", "1"), reply(201, `{"id":1,"status":"created"}`)}, 2},
		{"echoed token is redacted", []http.HandlerFunc{echo}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const route = "POST /api/v4/projects/g%2Fapp/trigger/pipeline"
			f := newFake(t, map[string][]http.HandlerFunc{route: tt.handlers})
			c, _ := newTestClient(t, f.srv.URL)
			_, err := c.TriggerPipeline(context.Background(), "g/app", token, "main", nil, nil)
			if f.count(route) != tt.calls {
				t.Errorf("%d calls, want %d", f.count(route), tt.calls)
			}
			if err != nil && (strings.Contains(err.Error(), token) || strings.Contains(UserMessage(err), token)) {
				t.Errorf("token leaked into the error: %v", err)
			}
		})
	}
}

func TestSecretNeverPrints(t *testing.T) {
	s := Secret("SENTINEL-value")
	b, _ := json.Marshal(struct{ V Secret }{s})
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %s %+v %#v", s, s, s, s), string(b), fmt.Sprintf("%v", Trigger{Token: s})} {
		if strings.Contains(out, "SENTINEL") {
			t.Errorf("secret printed: %s", out)
		}
	}
	if s.Reveal() != "SENTINEL-value" || s.Tail(4) != "alue" {
		t.Errorf("Reveal/Tail: %q %q", s.Reveal(), s.Tail(4))
	}
}

// TestTriggerErrorsNeverCarryTheToken: whatever status the trigger endpoint
// answers with, no error in the returned chain prints the trigger token,
// and the sentinels still match.
func TestTriggerErrorsNeverCarryTheToken(t *testing.T) {
	const token = "glptt-SENTINEL-trigger-token-000000000003"
	tests := []struct {
		name   string
		status int
		want   error
	}{
		{"401 echo", 401, ErrUnauthorized},
		{"403 echo", 403, ErrForbidden},
		{"404 echo", 404, ErrNotFound},
		{"500 echo", 500, ErrUnavailable},
		{"503 echo", 503, ErrUnavailable},
		{"422 echo", 422, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const route = "POST /api/v4/projects/g%2Fapp/trigger/pipeline"
			echo := func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				reply(tt.status, fmt.Sprintf(`{"message":%q,"error":%q}`, "bad token "+string(b), token))(w, r)
			}
			f := newFake(t, map[string][]http.HandlerFunc{route: {echo}})
			c, _ := newTestClient(t, f.srv.URL)
			_, err := c.TriggerPipeline(context.Background(), "g/app", token, "main", nil, nil)
			if err == nil {
				t.Fatal("no error")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("errors.Is(%v, %v) is false", err, tt.want)
			}
			for e := err; e != nil; e = errors.Unwrap(e) {
				if strings.Contains(e.Error(), token) || strings.Contains(fmt.Sprintf("%+v", e), token) {
					t.Errorf("token in a wrapped error %T: %v", e, e)
				}
			}
			if strings.Contains(UserMessage(err), token) {
				t.Errorf("token in the user message: %s", UserMessage(err))
			}
			var api *APIError
			if errors.As(err, &api) && strings.Contains(api.Message, token) {
				t.Errorf("token in APIError.Message: %s", api.Message)
			}
		})
	}
}
