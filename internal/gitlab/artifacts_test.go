package gitlab

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"testing"
)

func TestArtifactPathTraversalIsRefusedBeforeAnyRequest(t *testing.T) {
	tests := []struct {
		name, path string
		ok         bool
	}{
		{"plain file", "README.txt", true},
		{"nested file", "build/out/app.txt", true},
		{"dots inside a name", "build/a..b.txt", true},
		{"single dot segment", "./build/app.txt", true},
		{"empty", "", false},
		{"parent segment", "../secret", false},
		{"parent segment in the middle", "build/../../etc/passwd", false},
		{"trailing parent", "build/..", false},
		{"absolute", "/etc/passwd", false},
		{"windows drive", "C:/Windows/win.ini", false},
		{"backslash", `build\..\secret`, false},
		{"nul byte", "build/app.txt\x00.png", false},
	}
	f := newFake(t, nil) // any request fails the test
	c, _ := newTestClient(t, f.srv.URL)
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckArtifactPath(tt.path)
			if (err == nil) != tt.ok {
				t.Fatalf("CheckArtifactPath(%q) = %v, want ok=%v", tt.path, err, tt.ok)
			}
			if tt.ok {
				return
			}
			if !errors.Is(err, ErrBadArtifactPath) {
				t.Errorf("error %v is not ErrBadArtifactPath", err)
			}
			if _, err := c.JobArtifactFile(ctx, "1", 2, tt.path, &bytes.Buffer{}, 0); !errors.Is(err, ErrBadArtifactPath) {
				t.Errorf("JobArtifactFile: %v", err)
			}
			if tt.path == "" {
				return // RefArtifacts reads an empty path as "the whole archive"
			}
			if _, err := c.RefArtifacts(ctx, "1", "main", "build", tt.path, &bytes.Buffer{}, 0); !errors.Is(err, ErrBadArtifactPath) {
				t.Errorf("RefArtifacts: %v", err)
			}
		})
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("%d requests reached GitLab", n)
	}
}

func TestArtifactDownloadsUseGitLabsRoutes(t *testing.T) {
	ok := func(body string) []http.HandlerFunc {
		return []http.HandlerFunc{func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("job") != "" {
				body += "?job=" + r.URL.Query().Get("job")
			}
			_, _ = w.Write([]byte(body))
		}}
	}
	f := newFake(t, map[string][]http.HandlerFunc{
		"GET /api/v4/projects/g%2Fapp/jobs/5/artifacts/build/my%20file.txt":           ok("one file"),
		"GET /api/v4/projects/g%2Fapp/jobs/artifacts/release%2F1.2/download":          ok("archive"),
		"GET /api/v4/projects/g%2Fapp/jobs/artifacts/main/raw/dist/app.bin":           ok("raw"),
		"GET /api/v4/projects/g%2Fapp/jobs/artifacts/main/raw/dist/%23weird%3Fname.t": ok("escaped"),
	})
	c, _ := newTestClient(t, f.srv.URL)
	ctx := context.Background()
	tests := []struct {
		name string
		do   func(w *bytes.Buffer) (int64, error)
		want string
	}{
		{"one file of a job", func(w *bytes.Buffer) (int64, error) {
			return c.JobArtifactFile(ctx, "g/app", 5, "build/my file.txt", w, 0)
		}, "one file"},
		{"latest archive on a ref with a slash", func(w *bytes.Buffer) (int64, error) {
			return c.RefArtifacts(ctx, "g/app", "release/1.2", "build", "", w, 0)
		}, "archive?job=build"},
		{"one file on a ref", func(w *bytes.Buffer) (int64, error) {
			return c.RefArtifacts(ctx, "g/app", "main", "pack", "dist/app.bin", w, 0)
		}, "raw?job=pack"},
		{"path characters are escaped", func(w *bytes.Buffer) (int64, error) {
			return c.RefArtifacts(ctx, "g/app", "main", "pack", "dist/#weird?name.t", w, 0)
		}, "escaped?job=pack"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			n, err := tt.do(&buf)
			if err != nil || buf.String() != tt.want || n != int64(len(tt.want)) {
				t.Errorf("got %d %q %v, want %q", n, buf.String(), err, tt.want)
			}
		})
	}
}
