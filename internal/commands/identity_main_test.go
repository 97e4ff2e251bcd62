package commands

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/pipebot/pipebot/internal/identity"
)

// identityTally counts, over every identity harness of the package's
// tests, the GitLab requests made on people's behalf in linked and sudo
// modes and how many of them carried pipebot's own token (DESIGN §7: none
// may). docs/BENCHMARKS.md quotes the line TestMain prints with -v.
var identityTally struct {
	sync.Mutex
	forPeople map[identity.Mode]int
	withBot   map[identity.Mode]int
}

// tallying wraps the simulator of a harness in mode and counts what its
// requests carried, whatever the test resets in the simulator's own log.
func tallying(mode identity.Mode, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if mode != identity.ModeBot && strings.HasPrefix(r.URL.Path, "/api/v4/") {
			person := strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") || r.Header.Get("Sudo") != ""
			bot := r.Header.Get("PRIVATE-TOKEN") == idBotToken && r.Header.Get("Sudo") == "" &&
				!(r.Method == http.MethodGet && r.URL.Path == "/api/v4/users") // sudo's look-up of the user
			identityTally.Lock()
			if identityTally.forPeople == nil {
				identityTally.forPeople, identityTally.withBot = map[identity.Mode]int{}, map[identity.Mode]int{}
			}
			if person {
				identityTally.forPeople[mode]++
			}
			if bot {
				identityTally.withBot[mode]++
			}
			identityTally.Unlock()
		}
		next.ServeHTTP(w, r)
	})
}

func TestMain(m *testing.M) {
	code := m.Run()
	identityTally.Lock()
	for _, mode := range []identity.Mode{identity.ModeLinked, identity.ModeSudo} {
		people, bot := identityTally.forPeople[mode], identityTally.withBot[mode]
		if bot != 0 {
			fmt.Printf("FAIL: identity %s: %d GitLab requests for people used pipebot's token\n", mode, bot)
			code = 1
		}
		if testing.Verbose() && people > 0 {
			fmt.Printf("identity %s: %d GitLab requests made for people, %d of them with pipebot's token\n", mode, people, bot)
		}
	}
	identityTally.Unlock()
	os.Exit(code)
}
