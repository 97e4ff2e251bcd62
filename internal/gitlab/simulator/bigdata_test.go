package simulator

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func get(t *testing.T, url, token string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("PRIVATE-TOKEN", token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func TestGeneratedLogsHaveTheRequestedSizeAndHostileContent(t *testing.T) {
	tests := []struct {
		name string
		size int64
		fail bool
		tail string
	}{
		{"tiny failed log is cut to size", 20, true, ""},
		{"one megabyte failed log", 1 << 20, true, "ERROR: Job failed: exit code 1\x1b[0;m\n"},
		{"odd-sized passing log", 3<<20 + 17, false, "Job succeeded\x1b[0;m\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, JobSpec{Name: "big", Stage: "test", Fail: tt.fail, LogBytes: tt.size})
			id := f.sim.CreatePipeline(projectID, "main", "push", 1)
			f.sim.Finish(projectID, id)
			jid := jobID(t, f.pipeline(t, id), "big")
			resp, body := get(t, fmt.Sprintf("%s/api/v4/projects/%s/jobs/%d/trace", f.ts.URL, encPath, jid), bobToken)
			if resp.StatusCode != 200 || int64(len(body)) != tt.size {
				t.Fatalf("trace = %d, %d bytes; want %d", resp.StatusCode, len(body), tt.size)
			}
			if !strings.HasSuffix(string(body), tt.tail) {
				t.Errorf("log ends %q, want %q", body[max(0, len(body)-80):], tt.tail)
			}
			if tt.size > 1<<20-1 {
				for _, want := range []string{"section_start:", "\r", "\x1b[31;1m", "\xff\xfe", "<!channel>", "```"} {
					if !bytes.Contains(body, []byte(want)) {
						t.Errorf("log lacks %q", want)
					}
				}
			}
			r := f.do(t, "GET", fmt.Sprintf("/projects/%s/jobs/%d", encPath, jid), bobToken, nil)
			var job struct {
				Artifacts []struct {
					FileType string `json:"file_type"`
					Size     int64  `json:"size"`
				} `json:"artifacts"`
			}
			r.json(t, &job)
			if len(job.Artifacts) != 1 || job.Artifacts[0].FileType != "trace" || job.Artifacts[0].Size != tt.size {
				t.Errorf("job artifacts = %+v, want a trace of %d bytes", job.Artifacts, tt.size)
			}
		})
	}
}

func TestGeneratedArtifactsAreRealZipsOfAnySize(t *testing.T) {
	const payload = 5<<20 + 3
	f := newFixture(t, JobSpec{Name: "pack", Stage: "build", Artifacts: true, ArtifactBytes: payload})
	id := f.sim.CreatePipeline(projectID, "main", "push", 1)
	f.sim.Finish(projectID, id)
	jid := jobID(t, f.pipeline(t, id), "pack")
	resp, body := get(t, fmt.Sprintf("%s/api/v4/projects/%s/jobs/%d/artifacts", f.ts.URL, encPath, jid), bobToken)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Length") != fmt.Sprint(len(body)) {
		t.Fatalf("archive = %d, %d bytes, Content-Length %s", resp.StatusCode, len(body), resp.Header.Get("Content-Length"))
	}
	zr, err := zip.NewReader(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		t.Fatalf("not a zip: %v", err)
	}
	var inZip []byte
	for _, zf := range zr.File {
		if zf.Name == PayloadName {
			rc, err := zf.Open()
			if err != nil {
				t.Fatal(err)
			}
			inZip, err = io.ReadAll(rc) // checks the CRC too
			rc.Close()
			if err != nil {
				t.Fatalf("read %s: %v", PayloadName, err)
			}
		}
	}
	if len(inZip) != payload {
		t.Fatalf("%s has %d bytes in the zip, want %d", PayloadName, len(inZip), payload)
	}
	_, single := get(t, fmt.Sprintf("%s/api/v4/projects/%s/jobs/%d/artifacts/%s", f.ts.URL, encPath, jid, PayloadName), bobToken)
	if sha256.Sum256(single) != sha256.Sum256(inZip) {
		t.Error("the single-file endpoint and the archive disagree")
	}
	_, again := get(t, fmt.Sprintf("%s/api/v4/projects/%s/jobs/artifacts/main/download?job=pack", f.ts.URL, encPath), bobToken)
	if sha256.Sum256(again) != sha256.Sum256(body) {
		t.Error("the archive is not the same on every download")
	}
}

func TestArtifactDownloadsRedirectToObjectStorage(t *testing.T) {
	f := newFixture(t)
	storage := httptest.NewServer(f.sim.ObjectStorage())
	t.Cleanup(storage.Close)
	f.sim.RedirectArtifacts(storage.URL)
	id := f.sim.CreatePipeline(projectID, "main", "push", 1)
	f.sim.Finish(projectID, id)
	jid := jobID(t, f.pipeline(t, id), "build")

	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, path := range []string{
		fmt.Sprintf("/projects/%s/jobs/%d/artifacts", encPath, jid),
		fmt.Sprintf("/projects/%s/jobs/%d/artifacts/README.txt", encPath, jid),
		fmt.Sprintf("/projects/%s/jobs/artifacts/main/download?job=build", encPath),
	} {
		req, _ := http.NewRequest(http.MethodGet, f.ts.URL+"/api/v4"+path, nil)
		req.Header.Set("PRIVATE-TOKEN", bobToken)
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, storage.URL+"/objects/") {
			t.Fatalf("%s = %d to %q, want 302 to storage", path, resp.StatusCode, loc)
		}
		// Object storage needs only the signed link; it records the
		// credentials anyone sends so that tests can check none arrive.
		sresp, body := get(t, loc, "")
		if sresp.StatusCode != 200 || len(body) == 0 {
			t.Fatalf("storage = %d", sresp.StatusCode)
		}
	}
	if resp, _ := get(t, storage.URL+fmt.Sprintf("/objects/%d?X-Amz-Signature=forged", jid), ""); resp.StatusCode != http.StatusForbidden {
		t.Errorf("forged link = %d, want 403", resp.StatusCode)
	}
	get(t, storage.URL+fmt.Sprintf("/objects/%d", jid), "leaked-token")
	reqs := f.sim.StorageRequests()
	if len(reqs) != 5 || len(reqs[0].Credentials) != 0 || fmt.Sprint(reqs[4].Credentials) != "[Private-Token]" {
		t.Errorf("storage requests = %+v", reqs)
	}
}
