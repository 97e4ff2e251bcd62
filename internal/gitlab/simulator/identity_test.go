package simulator

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

const (
	rootToken = "root-token" // administrator, not a member of anything
	rootID    = 9
)

// send makes a request with headers to the fixture's server, without
// following redirects; path is the full path (including /api/v4 or /oauth).
func (f *fixture) send(t *testing.T, method, path string, hdr map[string]string, body string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, f.ts.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	client := *f.ts.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: data}
}

func withRoot(t *testing.T) *fixture {
	t.Helper()
	f := newFixture(t)
	f.sim.AddUser(User{ID: rootID, Username: "root", Name: "Administrator", Email: "root@example.com", IsAdmin: true}, rootToken)
	return f
}

func TestCurrentUserShowsIsAdminOnlyToAdmins(t *testing.T) {
	f := withRoot(t)
	m := f.do(t, "GET", "/user", rootToken, nil).object(t)
	if m["is_admin"] != true || m["username"] != "root" || m["email"] != "root@example.com" || m["state"] != "active" {
		t.Fatalf("admin /user = %v", m)
	}
	m = f.do(t, "GET", "/user", bobToken, nil).object(t)
	if _, ok := m["is_admin"]; ok || m["username"] != "bob" || m["email"] != "bob@example.com" {
		t.Fatalf("non-admin /user = %v, want no is_admin", m)
	}
	for _, k := range []string{"id", "name", "web_url", "avatar_url"} {
		if _, ok := m[k]; !ok {
			t.Fatalf("/user lacks %q: %v", k, m)
		}
	}
}

func TestSudoActsAsTheNamedUser(t *testing.T) {
	f := withRoot(t)
	for _, who := range []string{"bob", "BOB", "2"} {
		r := f.send(t, "GET", "/api/v4/user", map[string]string{"PRIVATE-TOKEN": rootToken, "Sudo": who}, "")
		if m := r.object(t); r.status != 200 || m["username"] != "bob" {
			t.Fatalf("sudo %s: %d %v", who, r.status, m)
		}
	}
	// The sudo parameter works like the header.
	r := f.send(t, "GET", "/api/v4/user?sudo=carol", map[string]string{"PRIVATE-TOKEN": rootToken}, "")
	if m := r.object(t); m["username"] != "carol" {
		t.Fatalf("sudo param: %v", m)
	}
	// Acting as bob, the admin gets bob's permissions: a reporter cannot
	// create a pipeline, and a project bob is not in is 404.
	r = f.send(t, "POST", "/api/v4/projects/7/pipeline?ref=main", map[string]string{"PRIVATE-TOKEN": rootToken, "Sudo": "bob"}, "")
	wantMessage(t, r, 403, "403 Forbidden")
	r = f.send(t, "GET", "/api/v4/projects/7", map[string]string{"PRIVATE-TOKEN": rootToken, "Sudo": "dave"}, "")
	wantMessage(t, r, 404, "404 Project Not Found")

	reqs := f.sim.Requests()
	last := reqs[len(reqs)-1]
	if !last.Sudo || last.TokenUserID != rootID || last.ActingUserID != 4 || last.Credential != CredentialPAT || last.TokenValue != rootToken {
		t.Fatalf("last request record = %+v", last)
	}
	if n := f.sim.CountCalls(rootToken); n != 6 {
		t.Fatalf("CountCalls(root) = %d, want 6", n)
	}
	if n := f.sim.CountActingAs(2); n != 4 {
		t.Fatalf("CountActingAs(bob) = %d, want 4", n)
	}
	if n := f.sim.CountActingAs(rootID); n != 0 {
		t.Fatalf("CountActingAs(root) = %d, want 0", n)
	}
}

func TestSudoRefusals(t *testing.T) {
	f := withRoot(t)
	f.sim.AddUser(User{ID: 20, Username: "gone", State: "blocked"}, "gone-token")
	f.sim.AddUser(User{ID: 21, Username: "ops", IsAdmin: true}, "ops-token")
	f.sim.SetTokenScopes("ops-token", "api")
	cases := []struct {
		name, token, sudo string
		status            int
		want              string
	}{
		{"non-admin", aliceToken, "bob", 403, `"message":"403 Forbidden - Must be admin to use sudo"`},
		{"unknown user", rootToken, "nobody", 404, `"message":"404 User with ID or username 'nobody' Not Found"`},
		{"unknown id", rootToken, "999", 404, `"message":"404 User with ID or username '999' Not Found"`},
		{"blocked target", rootToken, "gone", 403, `"message":"403 Forbidden - Your account has been blocked."`},
		{"admin token without the sudo scope", "ops-token", "bob", 403, `"error":"insufficient_scope"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := f.send(t, "GET", "/api/v4/user", map[string]string{"PRIVATE-TOKEN": tc.token, "Sudo": tc.sudo}, "")
			if r.status != tc.status || !strings.Contains(string(r.body), tc.want) {
				t.Fatalf("got %d %s, want %d %s", r.status, r.body, tc.status, tc.want)
			}
		})
	}
}

func TestBlockedUserCannotAct(t *testing.T) {
	f := newFixture(t)
	f.sim.SetUserState(2, "blocked")
	wantMessage(t, f.do(t, "GET", "/user", bobToken, nil), 403, "403 Forbidden - Your account has been blocked.")
	wantMessage(t, f.do(t, "GET", "/projects/7/pipelines", bobToken, nil), 403, "403 Forbidden - Your account has been blocked.")
	f.sim.SetUserState(2, "active")
	if r := f.do(t, "GET", "/projects/7/pipelines", bobToken, nil); r.status != 200 {
		t.Fatalf("unblocked: %d", r.status)
	}
}

func TestUserSearchByEmail(t *testing.T) {
	f := withRoot(t)
	f.sim.AddUser(User{ID: 30, Username: "pat", Name: "Pat Public", Email: "Pat.Private@Corp.example", PublicEmail: "pat@public.example"}, "")
	f.sim.AddUser(User{ID: 31, Username: "privatefan", Name: "Fan of pat.private"}, "")
	ids := func(token, q string) []int64 {
		var out []struct {
			ID    int64  `json:"id"`
			Email string `json:"email"`
		}
		f.do(t, "GET", "/users?search="+q, token, nil).json(t, &out)
		var got []int64
		for _, u := range out {
			got = append(got, u.ID)
			if token == rootToken && u.ID == 30 && u.Email != "Pat.Private@Corp.example" {
				t.Fatalf("admin listing lacks the email: %+v", u)
			}
		}
		return got
	}
	cases := []struct {
		name, token, q string
		want           string
	}{
		{"admin, primary email, any case", rootToken, "pat.private%40corp.example", "[30]"},
		{"admin, partial email is no email match", rootToken, "corp.example", "[]"},
		{"non-admin, private email", aliceToken, "pat.private%40corp.example", "[]"},
		{"non-admin, public email", aliceToken, "pat%40public.example", "[30]"},
		{"fuzzy name and username, exact username first", aliceToken, "pat", "[30 31]"},
		{"name substring", aliceToken, "pat.private", "[31]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := ids(tc.token, tc.q); fmt.Sprint(got) != tc.want {
				t.Fatalf("search %q = %v, want %s", tc.q, got, tc.want)
			}
		})
	}
	// GET /users/:id: email only for admins.
	if m := f.do(t, "GET", "/users/30", rootToken, nil).object(t); m["email"] != "Pat.Private@Corp.example" || m["is_admin"] != false {
		t.Fatalf("admin /users/30 = %v", m)
	}
	if m := f.do(t, "GET", "/users/30", aliceToken, nil).object(t); m["email"] != nil || m["public_email"] != "pat@public.example" {
		t.Fatalf("non-admin /users/30 = %v", m)
	}
}

func TestTokenScopes(t *testing.T) {
	f := withRoot(t)
	m := f.do(t, "GET", "/personal_access_tokens/self", rootToken, nil).object(t)
	if sc, _ := m["scopes"].([]any); len(sc) != 2 || sc[0] != "api" || sc[1] != "sudo" || m["user_id"] != float64(rootID) || m["active"] != true {
		t.Fatalf("admin token self = %v", m)
	}
	f.sim.SetTokenScopes(bobToken, "read_api")
	if r := f.do(t, "GET", "/projects/7/pipelines", bobToken, nil); r.status != 200 {
		t.Fatalf("read_api GET: %d", r.status)
	}
	f.sim.SetTokenScopes(aliceToken, "read_api")
	r := f.do(t, "POST", "/projects/7/pipeline?ref=main", aliceToken, nil)
	if r.status != 403 || !strings.Contains(string(r.body), `"scope":"api"`) {
		t.Fatalf("read_api POST: %d %s", r.status, r.body)
	}
	if n := f.sim.PipelineCount(7); n != 0 {
		t.Fatalf("a refused create made %d pipelines", n)
	}
}

func TestBearerPersonalAccessToken(t *testing.T) {
	f := newFixture(t)
	r := f.send(t, "GET", "/api/v4/user", map[string]string{"Authorization": "Bearer " + aliceToken}, "")
	if m := r.object(t); m["username"] != "alice" {
		t.Fatalf("bearer PAT: %d %v", r.status, m)
	}
	reqs := f.sim.Requests()
	if got := reqs[len(reqs)-1]; got.Credential != CredentialPAT || got.ActingUserID != 1 {
		t.Fatalf("record = %+v", got)
	}
}
