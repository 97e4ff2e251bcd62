package state

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// keySep joins the parts of a composite key. Each key helper refuses it
// inside a string part, so two different records can never share a key.
const keySep = '\x00'

// Bucket names. Each bucket has exactly one key helper below.
var (
	bucketMeta     = []byte("meta")
	bucketWatches  = []byte("watches")
	bucketCursors  = []byte("cursors")
	bucketRoles    = []byte("roles")
	bucketChannels = []byte("channels")
	bucketAudit    = []byte("audit")
	bucketOnce     = []byte("once")
)

// metaSchemaKey holds the schema version record in bucketMeta.
var metaSchemaKey = []byte("schema_version")

// keyBuilder appends key parts, remembering the first invalid one.
type keyBuilder struct {
	b   []byte
	err error
}

func (k *keyBuilder) sep() {
	if len(k.b) > 0 {
		k.b = append(k.b, keySep)
	}
}

func (k *keyBuilder) str(name, s string) *keyBuilder {
	switch {
	case k.err != nil:
	case s == "":
		k.err = fmt.Errorf("%w: %s is empty", ErrInvalidKey, name)
	case strings.ContainsRune(s, keySep):
		k.err = fmt.Errorf("%w: %s contains the key separator", ErrInvalidKey, name)
	default:
		k.sep()
		k.b = append(k.b, s...)
	}
	return k
}

// int appends v big-endian so that keys sort numerically.
func (k *keyBuilder) int(name string, v int64) *keyBuilder {
	switch {
	case k.err != nil:
	case v < 0:
		k.err = fmt.Errorf("%w: %s %d is negative", ErrInvalidKey, name, v)
	default:
		k.sep()
		k.b = binary.BigEndian.AppendUint64(k.b, uint64(v))
	}
	return k
}

func (k *keyBuilder) key() ([]byte, error) { return k.b, k.err }

// watchKey is the key of a watch: channel, project id, pipeline id.
func watchKey(k WatchKey) ([]byte, error) {
	var b keyBuilder
	return b.str("channel", k.Channel).int("project id", k.ProjectID).int("pipeline id", k.PipelineID).key()
}

// cursorKey is the key of a project's poll cursor.
func cursorKey(projectID int64) ([]byte, error) {
	var b keyBuilder
	return b.int("project id", projectID).key()
}

// roleKey is the key of a Slack user's role.
func roleKey(userID string) ([]byte, error) {
	var b keyBuilder
	return b.str("user id", userID).key()
}

// channelKey is the key of a Slack channel's settings.
func channelKey(id string) ([]byte, error) {
	var b keyBuilder
	return b.str("channel id", id).key()
}

// auditKey is the key of an audit entry: its sequence number, big-endian so
// that the bucket is in append order.
func auditKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(nil, seq)
}

// onceKey is the key of a once-only marker: namespace, key.
func onceKey(namespace, key string) ([]byte, error) {
	var b keyBuilder
	return b.str("namespace", namespace).str("key", key).key()
}
