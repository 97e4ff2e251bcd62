package main

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pipebot/pipebot/internal/gitlab/simulator"
)

// TestFailoverMeasured kills the leader of two replicas with -9 again and
// again at the default lease TTL (15 s), each time while a watched
// pipeline is running and ends right after the kill, and reports the
// seconds from each kill to the new leader's first poll of GitLab, and the
// notifications lost or doubled over all of them. It takes minutes, so it
// runs only when PIPEBOT_FAILOVER_KILLS says how many kills to make
// (figures in docs/BENCHMARKS.md: 10).
func TestFailoverMeasured(t *testing.T) {
	kills, _ := strconv.Atoi(os.Getenv("PIPEBOT_FAILOVER_KILLS"))
	if kills <= 0 {
		t.Skip("set PIPEBOT_FAILOVER_KILLS=10 (and PIPEBOT_TEST_DATABASE_URL) to measure failover; it takes minutes")
	}
	s := newReplicaSet(t, replicaOpts{n: 2, pollInterval: "1s", leaseTTL: "default"})
	var took []time.Duration
	var pipelines []int64
	for k := range kills {
		lead := s.leader(nil)
		follower := s.other(lead)
		mustContain(t, "run", s.command(follower, e2eAdmin, "run team/web main"), "Started pipeline")
		id := int64(s.sim.PipelineCount(e2eProject))
		pipelines = append(pipelines, id)
		s.waitFor("its card", func() bool { return s.cardsOf(id) == 1 })
		for s.sim.Advance(e2eProject, id) != simulator.StatusRunning {
		}
		// Kill at a random point of the renewal period.
		time.Sleep(time.Duration(k%5) * time.Second)
		killed := time.Now()
		lead.c.kill9()
		s.sim.Finish(e2eProject, id)
		next := s.leader(lead)
		var polled time.Time
		s.waitFor("the new leader's first poll", func() bool {
			var ok bool
			polled, ok = next.gitlabSince(killed, "GET", "/pipelines")
			return ok
		})
		took = append(took, polled.Sub(killed))
		t.Logf("kill %d: %s killed, %s polled %.1f s later", k+1, lead.name, next.name, polled.Sub(killed).Seconds())
		lead.c.start()
	}
	s.waitFor("every final reply", func() bool { return len(s.replies()) >= len(pipelines) })
	s.settle(3 * time.Second)

	lost, doubled := 0, 0
	for _, id := range pipelines {
		cards, finals := s.cardsOf(id), s.finalsOf(id)
		lost += max(0, 1-cards) + max(0, 1-finals)
		doubled += max(0, cards-1) + max(0, finals-1)
	}
	slices.Sort(took)
	var sum time.Duration
	for _, d := range took {
		sum += d
	}
	t.Logf("failover over %d kills at the default TTL: mean %.1f s, min %.1f s, max %.1f s; notifications lost %d, doubled %d",
		len(took), (sum / time.Duration(len(took))).Seconds(), took[0].Seconds(), took[len(took)-1].Seconds(), lost, doubled)
	if lost != 0 || doubled != 0 {
		t.Errorf("notifications lost %d, doubled %d; want 0 and 0", lost, doubled)
	}
}

// cardsOf and finalsOf count one pipeline's cards and final replies.
func (s *replicaSet) cardsOf(id int64) int {
	n := 0
	for _, c := range s.cards() {
		if strings.Contains(c.Text, fmt.Sprintf("#%d ", id)) {
			n++
		}
	}
	return n
}

func (s *replicaSet) finalsOf(id int64) int {
	n := 0
	for _, c := range s.cards() {
		if !strings.Contains(c.Text, fmt.Sprintf("#%d ", id)) {
			continue
		}
		for _, r := range s.replies() {
			if r.ThreadTS == c.TS {
				n++
			}
		}
	}
	return n
}
