package gitlab

import (
	"context"
	"net/http"
	"testing"
	"time"
)

func TestUpdatedPipelinesIsRetriedAsARead(t *testing.T) {
	ok := `{"data":{"projects":{"nodes":[{"id":"gid://gitlab/Project/3","pipelines":{"nodes":[]}}]}}}`
	f := newFake(t, map[string][]http.HandlerFunc{
		"POST /api/graphql": {reply(502, `{"message":"bad gateway"}`), reply(429, ``, "Retry-After", "2"), reply(200, ok)},
	})
	c, clock := newTestClient(t, f.srv.URL)
	got, err := c.UpdatedPipelines(context.Background(), []int64{3}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ProjectID != 3 || got[0].Latest != nil {
		t.Fatalf("got %+v", got)
	}
	if n := f.count("POST /api/graphql"); n != 3 {
		t.Fatalf("%d attempts, want 3: a 5xx is retried for a query as for a GET", n)
	}
	if w := clock.Waits(); len(w) != 2 || w[1] != 2*time.Second {
		t.Errorf("waits %v, want a backoff then Retry-After's 2s", w)
	}
}
