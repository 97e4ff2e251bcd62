package simulator

import (
	"net/http/httptest"
	"net/url"
	"testing"
)

func TestDemoIdentities(t *testing.T) {
	sim := NewDemo(Options{})
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	f := &fixture{sim: sim, ts: ts}

	if m := f.do(t, "GET", "/user", DemoAdminToken, nil).object(t); m["is_admin"] != true {
		t.Fatalf("demo admin /user = %v", m)
	}
	r := f.send(t, "GET", "/api/v4/users?search=viewer%40example.com", map[string]string{"PRIVATE-TOKEN": DemoAdminToken}, "")
	var users []map[string]any
	r.json(t, &users)
	if len(users) != 1 || users[0]["username"] != "viewer" {
		t.Fatalf("admin email search = %s", r.body)
	}
	if m := f.send(t, "GET", "/api/v4/user", map[string]string{"PRIVATE-TOKEN": DemoAdminToken, "Sudo": "viewer"}, "").object(t); m["username"] != "viewer" {
		t.Fatalf("demo sudo = %v", m)
	}

	// main of demo/webapp is protected: the developer may run develop only.
	if r := f.do(t, "POST", "/projects/demo%2Fwebapp/pipeline?ref=main", DemoDeveloperToken, nil); r.status != 400 {
		t.Fatalf("developer on main: %d %s", r.status, r.body)
	}
	if r := f.do(t, "POST", "/projects/demo%2Fwebapp/pipeline?ref=develop", DemoDeveloperToken, nil); r.status != 201 {
		t.Fatalf("developer on develop: %d %s", r.status, r.body)
	}
	if r := f.do(t, "POST", "/projects/demo%2Fwebapp/pipeline?ref=main", DemoToken, nil); r.status != 201 {
		t.Fatalf("maintainer on main: %d %s", r.status, r.body)
	}

	// demo/docs is public: the viewer, no member, reads its pipelines.
	if r := f.do(t, "GET", "/projects/demo%2Fdocs/pipelines", DemoViewerToken, nil); r.status != 200 || r.header.Get("X-Total") != "1" {
		t.Fatalf("viewer on public docs: %d %s", r.status, r.body)
	}

	q := url.Values{"client_id": {DemoOAuthClientID}, "redirect_uri": {DemoOAuthRedirectURI}, "response_type": {"code"}, "state": {"x"}}
	if r := f.send(t, "GET", "/oauth/authorize?"+q.Encode(), nil, ""); r.status != 200 {
		t.Fatalf("demo OAuth app authorize page: %d %s", r.status, r.body)
	}
}
