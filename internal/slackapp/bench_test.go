package slackapp

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// BenchmarkSlashCommandAck measures a signed slash command through NewHTTP
// over real loopback HTTP, from send to the 200 ack, and reports the p99.
func BenchmarkSlashCommandAck(b *testing.B) {
	pool := NewPool(PoolConfig{Queue: 1 << 16, Logger: zerolog.Nop()}, HandlerFunc(func(context.Context, Request) {}))
	pool.Start(b.Context())
	defer pool.Stop()
	srv := httptest.NewServer(NewHTTP(HTTPConfig{SigningSecret: testSecret, Pool: pool, Logger: zerolog.Nop()}))
	defer srv.Close()
	client := srv.Client()
	body := commandBody()
	latencies := make([]time.Duration, 0, b.N)

	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		req, err := http.NewRequest(http.MethodPost, srv.URL+PathCommands, strings.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		req.Header = signedHeader(testSecret, time.Now(), []byte(body))
		req.Header.Set("Content-Type", formType)
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		latencies = append(latencies, time.Since(start))
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	b.StopTimer()
	pool.Wait()
	if len(latencies) > 0 {
		slices.Sort(latencies)
		b.ReportMetric(float64(latencies[(len(latencies)*99)/100].Nanoseconds()), "p99-ns")
	}
}
