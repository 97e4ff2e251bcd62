package gitlab

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestJobTraceStreamsWithACeiling(t *testing.T) {
	const route = "GET /api/v4/projects/g%2Fapp/jobs/6/trace"
	log := strings.Repeat("line of output\n", 1000) // 15000 bytes
	tests := []struct {
		name    string
		max     int64
		wantN   int64
		wantErr error
	}{
		{"unlimited", 0, int64(len(log)), nil},
		{"exactly at the ceiling", int64(len(log)), int64(len(log)), nil},
		{"past the ceiling stops with ErrTooLarge", 4096, 4096, ErrTooLarge},
	}
	for _, tt := range tests {
		// bytes.Buffer reads the body itself (io.ReaderFrom); the
		// write-only wrapper gets it through Write.
		for _, writeOnly := range []bool{false, true} {
			name := tt.name
			if writeOnly {
				name += " (write-only writer)"
			}
			t.Run(name, func(t *testing.T) {
				f := newFake(t, map[string][]http.HandlerFunc{route: {func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", "text/plain")
					_, _ = w.Write([]byte(log))
				}}})
				c, _ := newTestClient(t, f.srv.URL)
				var buf bytes.Buffer
				var w io.Writer = &buf
				if writeOnly {
					w = struct{ io.Writer }{&buf}
				}
				n, err := c.JobTrace(context.Background(), "g/app", 6, w, tt.max)
				if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if n != tt.wantN || int64(buf.Len()) != tt.wantN || buf.String() != log[:tt.wantN] {
					t.Errorf("n = %d, wrote %d bytes; want the first %d", n, buf.Len(), tt.wantN)
				}
			})
		}
	}
}

func TestJobTraceStopsReadingAHugeBody(t *testing.T) {
	// The server would send 256 MiB; past the ceiling the client must drop
	// the connection instead of draining the rest.
	const total = 256 << 20
	done := make(chan error, 1)
	f := newFake(t, map[string][]http.HandlerFunc{"GET /api/v4/projects/1/jobs/2/artifacts": {func(w http.ResponseWriter, r *http.Request) {
		chunk := make([]byte, 64<<10)
		var err error
		for sent := 0; sent < total && err == nil; sent += len(chunk) {
			_, err = w.Write(chunk)
		}
		done <- err
	}}})
	c, _ := newTestClient(t, f.srv.URL)
	n, err := c.JobArtifacts(context.Background(), "1", 2, &bytes.Buffer{}, 1<<20)
	if !errors.Is(err, ErrTooLarge) || n != 1<<20 {
		t.Fatalf("n = %d, err = %v; want 1 MiB and ErrTooLarge", n, err)
	}
	select {
	case werr := <-done:
		if werr == nil {
			t.Error("server sent the whole body: the client drained it")
		}
	case <-time.After(20 * time.Second):
		t.Error("server still writing: the client kept the connection open")
	}
}

func TestJobArtifactsErrorsWriteNothing(t *testing.T) {
	const route = "GET /api/v4/projects/1/jobs/3/artifacts"
	tests := []struct {
		name     string
		handlers []http.HandlerFunc
		want     error
	}{
		{"404 when the job has no artifacts", []http.HandlerFunc{reply(404, `{"message":"404 Not Found"}`)}, ErrNotFound},
		{"5xx is retried then reported", times(maxAttempts, reply(502, "bad gateway")), ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, map[string][]http.HandlerFunc{route: tt.handlers})
			c, _ := newTestClient(t, f.srv.URL)
			var buf bytes.Buffer
			n, err := c.JobArtifacts(context.Background(), "1", 3, &buf, 0)
			if !errors.Is(err, tt.want) || n != 0 || buf.Len() != 0 {
				t.Errorf("n = %d, wrote %q, err = %v; want nothing and %v", n, buf.String(), err, tt.want)
			}
			if got := f.count(route); got != len(tt.handlers) {
				t.Errorf("requests = %d, want %d", got, len(tt.handlers))
			}
		})
	}
}

func TestInvalidIDsAreRejectedWithoutARequest(t *testing.T) {
	f := newFake(t, nil)
	c, _ := newTestClient(t, f.srv.URL)
	ctx := context.Background()
	if _, err := c.Job(ctx, "1", 0); err == nil {
		t.Error("job 0: want an error")
	}
	if _, err := c.Pipeline(ctx, "1", -3); err == nil {
		t.Error("pipeline -3: want an error")
	}
	if _, err := c.PlayJob(ctx, "1", 4, []Variable{{Key: " ", Value: "x"}}, nil); err == nil {
		t.Error("empty variable key: want an error")
	}
}
