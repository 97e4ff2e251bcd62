package gitlab

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

const schedRoute = "/api/v4/projects/g%2Fapp/pipeline_schedules"

func TestScheduleDecodesTheDocumentationFixtures(t *testing.T) {
	f := newFake(t, map[string][]http.HandlerFunc{
		"GET " + schedRoute:         {reply(200, fixture(t, "pipeline_schedules_list.json"))},
		"GET " + schedRoute + "/13": {reply(200, fixture(t, "pipeline_schedule_get.json"))},
	})
	c, _ := newTestClient(t, f.srv.URL)
	list, err := c.Schedules(context.Background(), "g/app", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != 13 || list[0].LastPipeline.ID != 0 || list[0].Owner.Username != "root" {
		t.Fatalf("list: %+v", list)
	}
	s, err := c.Schedule(context.Background(), "g/app", 13)
	if err != nil {
		t.Fatal(err)
	}
	want := time.Date(2017, 5, 19, 13, 41, 0, 0, time.UTC)
	if s.Cron != "* * * * *" || s.CronTimezone != "Asia/Tokyo" || !s.NextRunAt.Equal(want) || !s.Active ||
		s.Ref != "refs/heads/main" || s.Description != "Test schedule pipeline" {
		t.Errorf("schedule fields: %+v", s)
	}
	if s.LastPipeline.ID != 332 || s.LastPipeline.Status != StatusPending || s.Owner.State != "active" {
		t.Errorf("last pipeline or owner: %+v %+v", s.LastPipeline, s.Owner)
	}
	if len(s.Variables) != 1 || s.Variables[0].Key != "TEST_VARIABLE_1" {
		t.Errorf("variables: %+v", s.Variables)
	}
}

func TestScheduleOwnerGoneAndNeverRan(t *testing.T) {
	body := `{"id":5,"cron":"0 1 * * *","cron_timezone":"UTC","next_run_at":null,"active":false,"owner":null,"last_pipeline":null}`
	f := newFake(t, map[string][]http.HandlerFunc{"GET " + schedRoute + "/5": {reply(200, body)}})
	c, _ := newTestClient(t, f.srv.URL)
	s, err := c.Schedule(context.Background(), "g/app", 5)
	if err != nil {
		t.Fatal(err)
	}
	if s.Owner.ID != 0 || s.LastPipeline.ID != 0 || !s.NextRunAt.IsZero() || s.Active {
		t.Errorf("%+v", s)
	}
}

func TestCreateAndEditSendOnlyGivenFields(t *testing.T) {
	var bodies []map[string]any
	capture := func(status int, answer string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			var m map[string]any
			b, _ := io.ReadAll(r.Body)
			if err := json.Unmarshal(b, &m); err != nil {
				t.Errorf("body %q: %v", b, err)
			}
			bodies = append(bodies, m)
			reply(status, answer)(w, r)
		}
	}
	f := newFake(t, map[string][]http.HandlerFunc{
		"POST " + schedRoute:       {capture(201, `{"id":9,"cron":"0 2 * * *"}`)},
		"PUT " + schedRoute + "/9": {capture(200, `{"id":9,"active":false}`)},
	})
	c, _ := newTestClient(t, f.srv.URL)
	desc, ref, cron, tz := "nightly", "main", "0 2 * * *", "Pacific Time (US & Canada)"
	if _, err := c.CreateSchedule(context.Background(), "g/app", ScheduleOptions{Description: &desc, Ref: &ref, Cron: &cron, CronTimezone: &tz}); err != nil {
		t.Fatal(err)
	}
	off := false
	if _, err := c.EditSchedule(context.Background(), "g/app", 9, ScheduleOptions{Active: &off}); err != nil {
		t.Fatal(err)
	}
	if bodies[0]["cron_timezone"] != tz || bodies[0]["ref"] != "main" || bodies[0]["active"] != nil {
		t.Errorf("create body: %v", bodies[0])
	}
	if len(bodies[1]) != 1 || bodies[1]["active"] != false {
		t.Errorf("edit must send active:false alone: %v", bodies[1])
	}
}

func TestSetScheduleVariableUpdatesOrCreates(t *testing.T) {
	const secret = "SENTINEL-sched-var-value-77"
	cases := []struct {
		name        string
		routes      map[string][]http.HandlerFunc
		wantCreated bool
		wantErr     error
	}{
		{"existing key is edited", map[string][]http.HandlerFunc{
			"PUT " + schedRoute + "/3/variables/TOKEN": {reply(200, `{"key":"TOKEN","value":"`+secret+`"}`)},
		}, false, nil},
		{"missing key is created", map[string][]http.HandlerFunc{
			"PUT " + schedRoute + "/3/variables/TOKEN": {reply(404, `{"message":"404 Variable Not Found"}`)},
			"POST " + schedRoute + "/3/variables":      {reply(201, `{"key":"TOKEN","value":"`+secret+`"}`)},
		}, true, nil},
		{"missing schedule is not found", map[string][]http.HandlerFunc{
			"PUT " + schedRoute + "/3/variables/TOKEN": {reply(404, `{"message":"404 Not found"}`)},
			"POST " + schedRoute + "/3/variables":      {reply(404, `{"message":"404 Not found"}`)},
		}, false, ErrNotFound},
		{"override role refusal as 403", map[string][]http.HandlerFunc{
			"PUT " + schedRoute + "/3/variables/TOKEN": {reply(403, `{"message":"403 Forbidden - The current user is not authorized to set pipeline schedule variables"}`)},
		}, false, ErrVariablesNotAllowed},
		{"override role refusal as 400", map[string][]http.HandlerFunc{
			"PUT " + schedRoute + "/3/variables/TOKEN": {reply(404, `{"message":"404 Variable Not Found"}`)},
			"POST " + schedRoute + "/3/variables":      {reply(400, `{"message":{"base":["The current user is not authorized to set pipeline schedule variables"]}}`)},
		}, false, ErrVariablesNotAllowed},
		{"plain 403 is not the override refusal", map[string][]http.HandlerFunc{
			"PUT " + schedRoute + "/3/variables/TOKEN": {reply(403, `{"message":"403 Forbidden"}`)},
		}, false, ErrForbidden},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, tc.routes)
			c, _ := newTestClient(t, f.srv.URL)
			created, err := c.SetScheduleVariable(context.Background(), "g/app", 3, Variable{Key: "TOKEN", Value: secret})
			if tc.wantErr == nil && err != nil {
				t.Fatal(err)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr == ErrForbidden && errors.Is(err, ErrVariablesNotAllowed) {
				t.Error("a plain 403 was taken for the override-role refusal")
			}
			if err != nil && strings.Contains(err.Error(), secret) {
				t.Errorf("error leaks the value: %v", err)
			}
			if created != tc.wantCreated {
				t.Errorf("created=%v", created)
			}
		})
	}
}

func TestPlayAndMutationsAreNotRetriedOn5xx(t *testing.T) {
	f := newFake(t, map[string][]http.HandlerFunc{
		"POST " + schedRoute + "/4/play": {reply(502, `{"message":"502 Bad Gateway"}`)},
	})
	c, _ := newTestClient(t, f.srv.URL)
	if err := c.PlaySchedule(context.Background(), "g/app", 4); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err %v", err)
	}
	if n := f.count("POST " + schedRoute + "/4/play"); n != 1 {
		t.Errorf("play sent %d times; a 5xx must not be retried (it may have run)", n)
	}
}

func TestPlayRetriesOn429AndOwnershipAndDelete(t *testing.T) {
	f := newFake(t, map[string][]http.HandlerFunc{
		"POST " + schedRoute + "/4/play":           {reply(429, "", "Retry-After", "1"), reply(201, `{"message":"201 Created"}`)},
		"POST " + schedRoute + "/4/take_ownership": {reply(201, `{"id":4,"owner":{"id":1,"username":"pipebot","state":"active"}}`)},
		"DELETE " + schedRoute + "/4":              {reply(204, "")},
		"DELETE " + schedRoute + "/4/variables/K":  {reply(202, `{"key":"K","value":"x"}`)},
	})
	c, clock := newTestClient(t, f.srv.URL)
	ctx := context.Background()
	if err := c.PlaySchedule(ctx, "g/app", 4); err != nil {
		t.Fatal(err)
	}
	if w := clock.Waits(); len(w) != 1 || w[0] != time.Second {
		t.Errorf("waits %v", w)
	}
	s, err := c.TakeScheduleOwnership(ctx, "g/app", 4)
	if err != nil || s.Owner.Username != "pipebot" {
		t.Fatalf("%+v %v", s, err)
	}
	if err := c.DeleteSchedule(ctx, "g/app", 4); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteScheduleVariable(ctx, "g/app", 4, "K"); err != nil {
		t.Fatal(err)
	}
}
