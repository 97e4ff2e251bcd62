package gitlab

import (
	"encoding/json"
	"fmt"
)

// Secret is a value that must never be shown by accident: a trigger token
// or a CI/CD variable's value. It prints and marshals as "[redacted]", so
// a Secret that slips into a log field, an error or a JSON record leaks
// nothing; Reveal is the one deliberate way to read it.
type Secret string

// redacted is what a Secret prints as.
const redacted = "[redacted]"

// String implements fmt.Stringer.
func (s Secret) String() string { return redacted }

// GoString keeps %#v from printing the value.
func (s Secret) GoString() string { return redacted }

// MarshalJSON keeps encoding/json (and so zerolog's Interface) from
// writing the value.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText keeps text encoders from writing the value.
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// Reveal returns the value itself.
func (s Secret) Reveal() string { return string(s) }

// Tail is the last n characters, what pipebot may show of a token.
func (s Secret) Tail(n int) string {
	r := []rune(string(s))
	if len(r) <= n {
		return string(r)
	}
	return string(r[len(r)-n:])
}

var (
	_ json.Marshaler = Secret("")
	_ fmt.Stringer   = Secret("")
)
