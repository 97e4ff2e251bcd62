package commands

import (
	"fmt"
	"strings"

	"github.com/pipebot/pipebot/internal/gitlab"
	"github.com/pipebot/pipebot/internal/notify"
)

// inputRefusalMessage is the one sentence for GitLab's refusal of inputs,
// naming each input and what is wrong with it in GitLab's words.
func inputRefusalMessage(refused []gitlab.InputRefusal) string {
	parts := make([]string, 0, len(refused))
	for _, r := range refused {
		parts = append(parts, fmt.Sprintf("`%s`: %s", notify.Code(r.Name), notify.Escape(r.Reason)))
	}
	noun := "input"
	if len(refused) > 1 {
		noun = "inputs"
	}
	return fmt.Sprintf("GitLab refused the %s: %s. Nothing was run.", noun, strings.Join(parts, "; "))
}
