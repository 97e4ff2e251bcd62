package simulator

import (
	"context"
	"time"
)

// Demo identities, as NewDemo sets them up.
const (
	DemoToken       = "demo-token"
	DemoViewerToken = "viewer-token"
	DemoUserID      = 1
	DemoViewerID    = 2
	DemoWebappID    = 1
	DemoAPIID       = 2

	// DemoAdminToken is an administrator's token (scopes api and sudo), for
	// PIPEBOT_IDENTITY=sudo against the demo.
	DemoAdminToken = "admin-token"
	DemoAdminID    = 3
	// DemoDeveloperToken is a Developer of demo/webapp, whose protected
	// main refuses them.
	DemoDeveloperToken = "developer-token"
	DemoDeveloperID    = 4
	// DemoDocsID is the public project demo/docs (public pipelines).
	DemoDocsID = 3

	// The demo OAuth application (scope api), for PIPEBOT_IDENTITY=linked:
	// its redirect URI is pipebot's callback on the default listen address.
	DemoOAuthClientID     = "pipebot-demo"
	DemoOAuthClientSecret = "pipebot-demo-secret"
	DemoOAuthRedirectURI  = "http://127.0.0.1:8080/gitlab/oauth/callback"
)

// NewDemo returns a simulator with sample data for `pipebot demo`: user
// "demo" (id 1, token "demo-token", maintainer) and "viewer" (id 2, token
// "viewer-token", reporter); project "demo/webapp" (id 1, stages
// build/test/deploy with a flaky test job and a manual deploy job) holding a
// few finished pipelines of mixed status, and "demo/api" (id 2). For
// identity: "admin" (id 3, token "admin-token", administrator), "dev"
// (id 4, token "developer-token", developer of demo/webapp, whose main is
// protected for Maintainers), the public project "demo/docs" (id 3) and an
// OAuth application (DemoOAuthClientID) whose browser user signs in by
// username on the authorization page.
func NewDemo(opts Options) *Server { return newDemo(opts, 0) }

// NewDemoWithHistory is NewDemo with days of generated CI history on
// demo/webapp (GenerateHistory, ten pipelines a day, ending before the
// demo's own pipelines, which keep the newest ids) for `/ci stats`.
func NewDemoWithHistory(opts Options, days int) *Server { return newDemo(opts, days) }

func newDemo(opts Options, historyDays int) *Server {
	s := New(opts)
	s.AddUser(User{ID: DemoUserID, Username: "demo", Name: "Demo User", Email: "demo@example.com"}, DemoToken)
	s.AddUser(User{ID: DemoViewerID, Username: "viewer", Name: "Vera Viewer", Email: "viewer@example.com"}, DemoViewerToken)
	s.AddUser(User{ID: DemoAdminID, Username: "admin", Name: "Ada Admin", Email: "admin@example.com", IsAdmin: true}, DemoAdminToken)
	s.AddUser(User{ID: DemoDeveloperID, Username: "dev", Name: "Dev Eloper", Email: "dev@example.com"}, DemoDeveloperToken)
	s.AddOAuthApp(DemoOAuthClientID, DemoOAuthClientSecret, DemoOAuthRedirectURI, []string{"api", "read_user"})
	members := map[int64]AccessLevel{DemoUserID: Maintainer, DemoViewerID: Reporter}
	s.AddProject(Project{
		ID: DemoWebappID, Path: "demo/webapp", DefaultBranch: "main",
		Branches: []string{"develop", "feature/login"}, Tags: []string{"v1.0.0"},
		Members: members,
		Jobs: []JobSpec{
			{Name: "compile", Stage: "build", Artifacts: true},
			{Name: "unit-tests", Stage: "test"},
			{Name: "integration-tests", Stage: "test", Flaky: true},
			{Name: "lint", Stage: "test", AllowFailure: true, Fail: true},
			{Name: "deploy-production", Stage: "deploy", When: "manual", Only: []string{"main", "v*"},
				Inputs: []InputSpec{{Name: "region", Default: "eu-west", Options: []any{"eu-west", "us-east"}}}},
		},
		// Every input has a default, so `/ci run main` works without any;
		// try `/ci run main input:environment=production input:replicas=3`.
		Inputs: []InputSpec{
			{Name: "environment", Default: "staging", Options: []any{"staging", "production"}},
			{Name: "replicas", Type: "number", Default: float64(1)},
		},
	})
	s.SetMember(DemoWebappID, DemoDeveloperID, Developer)
	s.ProtectBranch(DemoWebappID, "main", Maintainer, Maintainer)
	s.AddProject(Project{
		ID: DemoDocsID, Path: "demo/docs", Members: map[int64]AccessLevel{DemoUserID: Owner},
		Visibility: VisibilityPublic, PublicPipelines: true,
		Jobs: []JobSpec{{Name: "pages", Stage: "deploy", Artifacts: true}},
	})
	s.AddProject(Project{
		ID: DemoAPIID, Path: "demo/api", DefaultBranch: "main", Members: members,
		Jobs: []JobSpec{
			{Name: "build", Stage: "build", Artifacts: true},
			{Name: "test", Stage: "test"},
		},
	})

	// A nightly schedule owned by the demo user, for `/ci schedules`.
	s.AddSchedule(DemoWebappID, Schedule{Description: "nightly build", Ref: "main", Cron: "0 2 * * *",
		CronTimezone: "Pacific Time (US & Canada)", Active: true, OwnerID: DemoUserID})

	if historyDays > 0 {
		s.GenerateHistory(DemoWebappID, History{Days: historyDays, Seed: 2024, UserID: DemoUserID,
			End: s.clock().Add(-3*time.Hour - 10*time.Minute), FlakyRate: 0.15, RerunRate: 0.2})
	}
	// History: pipelines that finished in the last hours, stamped with a
	// clock running from three hours ago.
	wall := s.now
	base := wall().Add(-3 * time.Hour)
	tick := 0
	s.now = func() time.Time { tick++; return base.Add(time.Duration(tick) * 7 * time.Second) }
	defer func() { s.now = wall }()

	// #1 main (odd iid): the flaky test fails, a retry passes, then deploy
	// waits for its manual trigger, is played and passes.
	if id := s.CreatePipeline(DemoWebappID, "main", "push", DemoUserID); id != 0 {
		s.Finish(DemoWebappID, id)
		s.mu.Lock()
		p := s.pipelines[id]
		s.retryPipeline(p, DemoUserID)
		for s.step(p) {
		}
		for _, j := range p.latest() {
			if j.status == StatusManual {
				_, _ = s.playJob(j, DemoUserID, nil, nil)
			}
		}
		for s.step(p) {
		}
		s.mu.Unlock()
	}
	// #2 develop (even iid): passes.
	if id := s.CreatePipeline(DemoWebappID, "develop", "push", DemoUserID); id != 0 {
		s.Finish(DemoWebappID, id)
	}
	// #3 feature/login (odd iid): the flaky test fails.
	if id := s.CreatePipeline(DemoWebappID, "feature/login", "merge_request_event", DemoUserID); id != 0 {
		s.Finish(DemoWebappID, id)
	}
	// #4 main from a schedule (even iid): blocked on the manual deploy.
	if id := s.CreatePipeline(DemoWebappID, "main", "schedule", DemoUserID); id != 0 {
		s.Finish(DemoWebappID, id)
	}
	// #5 develop (odd iid): canceled while testing.
	if id := s.CreatePipeline(DemoWebappID, "develop", "web", DemoUserID); id != 0 {
		s.Advance(DemoWebappID, id)
		s.Advance(DemoWebappID, id)
		s.mu.Lock()
		s.cancelPipeline(s.pipelines[id])
		s.mu.Unlock()
	}
	if id := s.CreatePipeline(DemoAPIID, "main", "push", DemoUserID); id != 0 {
		s.Finish(DemoAPIID, id)
	}
	if id := s.CreatePipeline(DemoDocsID, "main", "push", DemoUserID); id != 0 {
		s.Finish(DemoDocsID, id)
	}
	return s
}

// AutoAdvance advances every active pipeline one step per tick of every
// until ctx ends; it blocks, so run it in its own goroutine. Pipelines that
// rest (finished, or blocked on a manual job) stay as they are.
func (s *Server) AutoAdvance(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.advanceAll()
		}
	}
}

// advanceAll moves every active pipeline one step.
func (s *Server) advanceAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range sortedKeys(s.projects) {
		for _, p := range s.projects[id].pipelines {
			if isActive(p.status) || hasActiveJob(p) {
				s.step(p)
			}
		}
	}
}

func hasActiveJob(p *pipeline) bool {
	for _, j := range p.latest() {
		if isActive(j.status) {
			return true
		}
	}
	return false
}
