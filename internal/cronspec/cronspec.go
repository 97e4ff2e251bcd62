// Package cronspec reads the five cron fields GitLab's pipeline schedules
// take (minute hour day-of-month month day-of-week) with robfig/cron: for
// the checks and previews of schedules and for the slots of digests.
package cronspec

import (
	"errors"

	"github.com/robfig/cron/v3"
)

// parser takes exactly the five fields: no seconds field, no @daily
// descriptors. robfig still reads a TZ= prefix; callers refuse it first.
var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)

// Parse reads a five-field spec. robfig/cron panics on some malformed
// input; that is an error here, "it cannot be read".
func Parse(spec string) (s cron.Schedule, err error) {
	defer func() {
		if p := recover(); p != nil {
			s, err = nil, errors.New("it cannot be read")
		}
	}()
	return parser.Parse(spec)
}
