package commands

// This file checks pipeline-schedule cron specs and time zones before pipebot
// asks GitLab to save them, and previews the next runs. The functions are
// pure: no I/O, the clock is an argument.
//
// GitLab's own next_run_at stays the truth (it also rounds to the instance's
// schedule worker); robfig/cron gives validation and previews only.

import (
	"slices"
	"strings"
	"time"
	// The zone database is embedded so that time zone checks do not depend
	// on the host (the distroless image may have no /usr/share/zoneinfo).
	_ "time/tzdata"

	"github.com/robfig/cron/v3"

	"github.com/pipebot/pipebot/internal/cronspec"
	"github.com/pipebot/pipebot/internal/notify"
)

// cronSchedule is a checked cron spec.
type cronSchedule struct {
	spec  string
	sched cron.Schedule
}

// parseCron checks a five-field cron spec. Every error is a sentence for the
// user.
func parseCron(spec string) (cronSchedule, error) {
	spec = strings.Join(strings.Fields(spec), " ")
	if spec == "" {
		return cronSchedule{}, userErrorf("The cron is empty. Give five fields, for example `cron:\"0 2 * * *\"` (every day at 02:00).")
	}
	if strings.HasPrefix(spec, "@") {
		return cronSchedule{}, userErrorf("`%s`: pipebot takes the five cron fields rather than a shortcut like @daily; write `0 0 * * *` instead.", escapeCode(spec))
	}
	if strings.HasPrefix(strings.ToUpper(spec), "TZ=") || strings.HasPrefix(strings.ToUpper(spec), "CRON_TZ=") {
		return cronSchedule{}, userErrorf("`%s`: give the time zone as `tz:` rather than inside the cron.", escapeCode(spec))
	}
	fields := strings.Fields(spec)
	if len(fields) != 5 {
		return cronSchedule{}, userErrorf("`%s` has %d fields; a GitLab cron has five: minute, hour, day of month, month, day of week (for example `0 2 * * 1-5`).", escapeCode(spec), len(fields))
	}
	for _, f := range fields {
		if strings.ContainsAny(f, "Ll#Ww?") && !isNameField(f) {
			return cronSchedule{}, userErrorf("`%s`: pipebot cannot check `L`, `W`, `#` or `?` (last day, weekday, nth weekday), so it does not accept them; use plain numbers, ranges, lists and steps.", escapeCode(spec))
		}
	}
	sched, err := cronspec.Parse(strings.Join(append(fields[:4:4], sundaySeven(fields[4])), " "))
	if err != nil {
		return cronSchedule{}, userErrorf("`%s` is not a valid cron: %s.", escapeCode(spec), strings.TrimSuffix(err.Error(), "."))
	}
	return cronSchedule{spec: spec, sched: sched}, nil
}

// sundaySeven rewrites 7 in the day-of-week field as 0: GitLab (and most
// crons) take 7 for Sunday, robfig/cron refuses it. Only the preview parse
// sees the rewrite; GitLab gets the spec as typed.
func sundaySeven(dow string) string {
	parts := strings.Split(dow, ",")
	for i, p := range parts {
		switch {
		case p == "7":
			parts[i] = "0"
		case strings.HasSuffix(p, "-7") && !strings.Contains(p, "/"):
			if p == "7-7" {
				parts[i] = "0"
			} else {
				parts[i] = strings.TrimSuffix(p, "-7") + "-6,0"
			}
		}
	}
	return strings.Join(parts, ",")
}

// isNameField reports whether a field is made of month or weekday names
// (JAN, mon-fri), which contain letters that are otherwise refused.
func isNameField(f string) bool {
	for _, part := range strings.FieldsFunc(f, func(r rune) bool { return r == ',' || r == '-' || r == '/' }) {
		if part == "*" || lexDigits(part) {
			continue
		}
		if !slices.Contains(cronNames, strings.ToLower(part)) {
			return false
		}
	}
	return true
}

var cronNames = []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
	"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// next returns up to n run times strictly after from, in loc. A spec that
// matches no date (Feb 30) yields none.
//
// Around daylight-saving changes it follows robfig/cron with one fix: a
// wall-clock time that does not exist (02:30 on the spring-forward day in
// New York) is skipped that day, and one that occurs twice (01:30 on the
// autumn day in London) is listed once, not once per offset.
func (c cronSchedule) next(from time.Time, loc *time.Location, n int) (out []time.Time) {
	defer func() {
		if recover() != nil {
			out = nil
		}
	}()
	t := from.In(loc)
	for guard := 0; len(out) < n && guard < 4*n; guard++ {
		t = c.sched.Next(t)
		if t.IsZero() {
			break
		}
		t = t.In(loc)
		if k := len(out); k > 0 && sameWallClock(out[k-1], t) {
			continue
		}
		out = append(out, t)
	}
	return out
}

func sameWallClock(a, b time.Time) bool {
	return a.Format("2006-01-02 15:04") == b.Format("2006-01-02 15:04")
}

// zone is a checked time zone: the name GitLab is sent (as the user meant
// it: IANA or Rails) and the location it stands for.
type zone struct {
	Name string
	Loc  *time.Location
}

// parseZone accepts an IANA name (Europe/London, UTC) or one of the Rails
// names GitLab accepts (Pacific Time (US & Canada), London), the latter in
// any case. An empty name is UTC, GitLab's default.
func parseZone(name string) (zone, error) {
	name = strings.Join(strings.Fields(name), " ")
	if name == "" {
		return zone{Name: "UTC", Loc: time.UTC}, nil
	}
	if iana, rails, ok := railsZone(name); ok {
		loc, err := time.LoadLocation(iana)
		if err == nil {
			return zone{Name: rails, Loc: loc}, nil
		}
	}
	// "Local" is the host's zone to Go, meaningless to GitLab; paths are
	// refused by LoadLocation itself.
	if name != "Local" && !strings.ContainsAny(name, " \\") {
		if loc, err := time.LoadLocation(name); err == nil {
			return zone{Name: name, Loc: loc}, nil
		}
	}
	return zone{}, userErrorf("`%s` is not a time zone I know. Use an IANA name such as `Europe/Berlin` or `America/New_York`, or a GitLab (Rails) name such as `Pacific Time (US & Canada)`.", escapeCode(name))
}

// zoneLocation finds the location of a zone name GitLab returned, falling
// back to UTC for a name pipebot does not know (display only).
func zoneLocation(name string) *time.Location {
	if z, err := parseZone(name); err == nil {
		return z.Loc
	}
	return time.UTC
}

// railsZone looks a Rails zone name up case-insensitively and returns its
// IANA name and the Rails spelling.
func railsZone(name string) (iana, rails string, ok bool) {
	if v, ok := railsZones[name]; ok {
		return v, name, true
	}
	for k, v := range railsZones {
		if strings.EqualFold(k, name) {
			return v, k, true
		}
	}
	return "", "", false
}

// escapeCode keeps user text from closing a `code` span or forming markup.
func escapeCode(s string) string {
	return notify.Code(truncateWord(s))
}

// railsZones is ActiveSupport::TimeZone::MAPPING, the names GitLab's API
// accepts for cron_timezone besides IANA names
// (https://api.rubyonrails.org/classes/ActiveSupport/TimeZone.html).
var railsZones = map[string]string{
	"International Date Line West": "Etc/GMT+12",
	"Midway Island":                "Pacific/Midway",
	"American Samoa":               "Pacific/Pago_Pago",
	"Hawaii":                       "Pacific/Honolulu",
	"Alaska":                       "America/Juneau",
	"Pacific Time (US & Canada)":   "America/Los_Angeles",
	"Tijuana":                      "America/Tijuana",
	"Mountain Time (US & Canada)":  "America/Denver",
	"Arizona":                      "America/Phoenix",
	"Chihuahua":                    "America/Chihuahua",
	"Mazatlan":                     "America/Mazatlan",
	"Central Time (US & Canada)":   "America/Chicago",
	"Saskatchewan":                 "America/Regina",
	"Guadalajara":                  "America/Mexico_City",
	"Mexico City":                  "America/Mexico_City",
	"Monterrey":                    "America/Monterrey",
	"Central America":              "America/Guatemala",
	"Eastern Time (US & Canada)":   "America/New_York",
	"Indiana (East)":               "America/Indiana/Indianapolis",
	"Bogota":                       "America/Bogota",
	"Lima":                         "America/Lima",
	"Quito":                        "America/Lima",
	"Atlantic Time (Canada)":       "America/Halifax",
	"Caracas":                      "America/Caracas",
	"La Paz":                       "America/La_Paz",
	"Santiago":                     "America/Santiago",
	"Newfoundland":                 "America/St_Johns",
	"Brasilia":                     "America/Sao_Paulo",
	"Buenos Aires":                 "America/Argentina/Buenos_Aires",
	"Montevideo":                   "America/Montevideo",
	"Georgetown":                   "America/Guyana",
	"Puerto Rico":                  "America/Puerto_Rico",
	"Greenland":                    "America/Godthab",
	"Mid-Atlantic":                 "Atlantic/South_Georgia",
	"Azores":                       "Atlantic/Azores",
	"Cape Verde Is.":               "Atlantic/Cape_Verde",
	"Dublin":                       "Europe/Dublin",
	"Edinburgh":                    "Europe/London",
	"Lisbon":                       "Europe/Lisbon",
	"London":                       "Europe/London",
	"Casablanca":                   "Africa/Casablanca",
	"Monrovia":                     "Africa/Monrovia",
	"UTC":                          "Etc/UTC",
	"Belgrade":                     "Europe/Belgrade",
	"Bratislava":                   "Europe/Bratislava",
	"Budapest":                     "Europe/Budapest",
	"Ljubljana":                    "Europe/Ljubljana",
	"Prague":                       "Europe/Prague",
	"Sarajevo":                     "Europe/Sarajevo",
	"Skopje":                       "Europe/Skopje",
	"Warsaw":                       "Europe/Warsaw",
	"Zagreb":                       "Europe/Zagreb",
	"Brussels":                     "Europe/Brussels",
	"Copenhagen":                   "Europe/Copenhagen",
	"Madrid":                       "Europe/Madrid",
	"Paris":                        "Europe/Paris",
	"Amsterdam":                    "Europe/Amsterdam",
	"Berlin":                       "Europe/Berlin",
	"Bern":                         "Europe/Zurich",
	"Zurich":                       "Europe/Zurich",
	"Rome":                         "Europe/Rome",
	"Stockholm":                    "Europe/Stockholm",
	"Vienna":                       "Europe/Vienna",
	"West Central Africa":          "Africa/Algiers",
	"Bucharest":                    "Europe/Bucharest",
	"Cairo":                        "Africa/Cairo",
	"Helsinki":                     "Europe/Helsinki",
	"Kyiv":                         "Europe/Kiev",
	"Riga":                         "Europe/Riga",
	"Sofia":                        "Europe/Sofia",
	"Tallinn":                      "Europe/Tallinn",
	"Vilnius":                      "Europe/Vilnius",
	"Athens":                       "Europe/Athens",
	"Istanbul":                     "Europe/Istanbul",
	"Minsk":                        "Europe/Minsk",
	"Jerusalem":                    "Asia/Jerusalem",
	"Harare":                       "Africa/Harare",
	"Pretoria":                     "Africa/Johannesburg",
	"Kaliningrad":                  "Europe/Kaliningrad",
	"Moscow":                       "Europe/Moscow",
	"St. Petersburg":               "Europe/Moscow",
	"Volgograd":                    "Europe/Volgograd",
	"Samara":                       "Europe/Samara",
	"Kuwait":                       "Asia/Kuwait",
	"Riyadh":                       "Asia/Riyadh",
	"Nairobi":                      "Africa/Nairobi",
	"Baghdad":                      "Asia/Baghdad",
	"Tehran":                       "Asia/Tehran",
	"Abu Dhabi":                    "Asia/Muscat",
	"Muscat":                       "Asia/Muscat",
	"Baku":                         "Asia/Baku",
	"Tbilisi":                      "Asia/Tbilisi",
	"Yerevan":                      "Asia/Yerevan",
	"Kabul":                        "Asia/Kabul",
	"Ekaterinburg":                 "Asia/Yekaterinburg",
	"Islamabad":                    "Asia/Karachi",
	"Karachi":                      "Asia/Karachi",
	"Tashkent":                     "Asia/Tashkent",
	"Chennai":                      "Asia/Kolkata",
	"Kolkata":                      "Asia/Kolkata",
	"Mumbai":                       "Asia/Kolkata",
	"New Delhi":                    "Asia/Kolkata",
	"Kathmandu":                    "Asia/Kathmandu",
	"Astana":                       "Asia/Dhaka",
	"Dhaka":                        "Asia/Dhaka",
	"Sri Jayawardenepura":          "Asia/Colombo",
	"Almaty":                       "Asia/Almaty",
	"Novosibirsk":                  "Asia/Novosibirsk",
	"Rangoon":                      "Asia/Rangoon",
	"Bangkok":                      "Asia/Bangkok",
	"Hanoi":                        "Asia/Bangkok",
	"Jakarta":                      "Asia/Jakarta",
	"Krasnoyarsk":                  "Asia/Krasnoyarsk",
	"Beijing":                      "Asia/Shanghai",
	"Chongqing":                    "Asia/Chongqing",
	"Hong Kong":                    "Asia/Hong_Kong",
	"Urumqi":                       "Asia/Urumqi",
	"Kuala Lumpur":                 "Asia/Kuala_Lumpur",
	"Singapore":                    "Asia/Singapore",
	"Taipei":                       "Asia/Taipei",
	"Perth":                        "Australia/Perth",
	"Irkutsk":                      "Asia/Irkutsk",
	"Ulaanbaatar":                  "Asia/Ulaanbaatar",
	"Seoul":                        "Asia/Seoul",
	"Osaka":                        "Asia/Tokyo",
	"Sapporo":                      "Asia/Tokyo",
	"Tokyo":                        "Asia/Tokyo",
	"Yakutsk":                      "Asia/Yakutsk",
	"Darwin":                       "Australia/Darwin",
	"Adelaide":                     "Australia/Adelaide",
	"Canberra":                     "Australia/Melbourne",
	"Melbourne":                    "Australia/Melbourne",
	"Sydney":                       "Australia/Sydney",
	"Brisbane":                     "Australia/Brisbane",
	"Hobart":                       "Australia/Hobart",
	"Vladivostok":                  "Asia/Vladivostok",
	"Guam":                         "Pacific/Guam",
	"Port Moresby":                 "Pacific/Port_Moresby",
	"Magadan":                      "Asia/Magadan",
	"Srednekolymsk":                "Asia/Srednekolymsk",
	"Solomon Is.":                  "Pacific/Guadalcanal",
	"New Caledonia":                "Pacific/Noumea",
	"Fiji":                         "Pacific/Fiji",
	"Kamchatka":                    "Asia/Kamchatka",
	"Marshall Is.":                 "Pacific/Majuro",
	"Auckland":                     "Pacific/Auckland",
	"Wellington":                   "Pacific/Auckland",
	"Nuku'alofa":                   "Pacific/Tongatapu",
	"Tokelau Is.":                  "Pacific/Fakaofo",
	"Chatham Is.":                  "Pacific/Chatham",
	"Samoa":                        "Pacific/Apia",
}
