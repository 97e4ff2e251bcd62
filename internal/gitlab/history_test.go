package gitlab

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"
)

func TestEachPipelinePageReadsEveryPageOfAHundredWithTheTotal(t *testing.T) {
	const route = "GET /api/v4/projects/g%2Fapp/pipelines"
	page := pipelinePage(t, 1000)
	withTotal := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Total", "1000")
		page(w, r)
	}
	f := newFake(t, map[string][]http.HandlerFunc{route: times(10, withTotal)})
	c, _ := newTestClient(t, f.srv.URL)
	since := time.Date(2024, 4, 1, 0, 0, 0, 0, time.UTC)
	var seen, pages int
	err := c.EachPipelinePage(context.Background(), "g/app", ListPipelinesOptions{
		CreatedAfter: since, CreatedBefore: since.Add(24 * time.Hour), OrderBy: "id", Sort: "desc", Limit: 5,
	}, func(ps []Pipeline, total int) error {
		pages++
		if total != 1000 {
			t.Errorf("page %d: total %d, want 1000", pages, total)
		}
		for _, p := range ps {
			seen++
			if p.ID != int64(seen) {
				t.Fatalf("pipeline %d has id %d", seen, p.ID)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen != 1000 || pages != 10 || f.count(route) != 10 {
		t.Errorf("read %d pipelines on %d pages with %d requests, want 1000 on 10 with 10", seen, pages, f.count(route))
	}
	q := f.requests()[0].URL.Query()
	for k, v := range map[string]string{
		"created_after": "2024-04-01T00:00:00.000Z", "created_before": "2024-04-02T00:00:00.000Z",
		"order_by": "id", "sort": "desc", "per_page": "100", "page": "1",
	} {
		if q.Get(k) != v {
			t.Errorf("query %s = %q, want %q", k, q.Get(k), v)
		}
	}
	if got := f.requests()[9].URL.Query().Get("page"); got != strconv.Itoa(10) {
		t.Errorf("last request asked page %s", got)
	}
}

func TestEachPipelinePageStopsWhenTheCallbackFails(t *testing.T) {
	const route = "GET /api/v4/projects/g%2Fapp/pipelines"
	f := newFake(t, map[string][]http.HandlerFunc{route: times(1, pipelinePage(t, 1000))})
	c, _ := newTestClient(t, f.srv.URL)
	stop := errors.New("enough")
	err := c.EachPipelinePage(context.Background(), "g/app", ListPipelinesOptions{}, func([]Pipeline, int) error { return stop })
	if !errors.Is(err, stop) || f.count(route) != 1 {
		t.Errorf("err %v after %d requests, want the callback's error after 1", err, f.count(route))
	}
}
