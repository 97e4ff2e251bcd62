// Package storetest is the test suite every state engine passes: the same
// records, orderings, read-modify-write transactions and failure answers on
// bbolt and on PostgreSQL. An engine's test calls Run with a way to make
// fresh databases.
package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pipebot/pipebot/internal/state"
)

// Target is an engine under test.
type Target struct {
	// NewDatabase makes a fresh, empty database and returns a function
	// that opens a Store on it; opening it again after a Close sees the
	// same data.
	NewDatabase func(t *testing.T) (open func(opts state.Options) (*state.Store, error))
	// Shared is true when two Stores may have the database open at once,
	// as two pipebot processes (PostgreSQL); bbolt's file lock forbids it.
	Shared bool
	// Leases is true when the engine keeps leader leases (state.Leaser).
	Leases bool
}

// DB hands the tests their stores: a fresh database for each Open.
type DB struct {
	target Target

	mu    sync.Mutex
	opens map[*testing.T]*opened
}

type opened struct {
	open  func(opts state.Options) (*state.Store, error)
	clock *Clock
	first *state.Store
}

// Run runs the whole suite against target.
func Run(t *testing.T, target Target) {
	db := &DB{target: target, opens: map[*testing.T]*opened{}}
	tests := []struct {
		name string
		fn   func(*testing.T, *DB)
	}{
		{"PingFailsAfterClose", testPingFailsAfterClose},
		{"WatchRoundTrip", testWatchRoundTrip},
		{"WatchesOrderedByKeyAndGroupedByProject", testWatchesOrderedByKeyAndGroupedByProject},
		{"UpdateWatch", testUpdateWatch},
		{"ConcurrentUpdateWatchKeepsEveryIncrement", testConcurrentUpdateWatchKeepsEveryIncrement},
		{"StoreRefusesInvalidKeysWithoutWriting", testStoreRefusesInvalidKeysWithoutWriting},
		{"CursorRoundTrip", testCursorRoundTrip},
		{"Roles", testRoles},
		{"UpdateChannel", testUpdateChannel},
		{"AuditNewestFirst", testAuditNewestFirst},
		{"MarkOnce", testMarkOnce},
		{"PruneOnceDropsOnlyExpiredMarkers", testPruneOnceDropsOnlyExpiredMarkers},
		{"PruneOnceWorksThroughALargeBucketInChunks", testPruneOnceWorksThroughALargeBucketInChunks},
		{"ReopenKeepsEverything", testReopenKeepsEverything},
		{"CardClaimsLetOnlyTheFirstOfAWatchAndASubscriptionPost", testCardClaimsLetOnlyTheFirstOfAWatchAndASubscriptionPost},
		{"CardClaimsRacingHaveOneWinner", testCardClaimsRacingHaveOneWinner},
		{"HomeRecordsOpenedUsersAndTheirPipelinesAcrossReopen", testHomeRecordsOpenedUsersAndTheirPipelinesAcrossReopen},
		{"HomePipelinesNewestFirstBoundedAndRetriesMoveToTheFront", testHomePipelinesNewestFirstBoundedAndRetriesMoveToTheFront},
		{"SetHomePipelineStatusChangesOnlyKnownPipelines", testSetHomePipelineStatusChangesOnlyKnownPipelines},
		{"HomeRefusesBadKeys", testHomeRefusesBadKeys},
		{"ChannelSubscriptionsListOnlyThatChannel", testChannelSubscriptionsListOnlyThatChannel},
		{"RecordRefStatusGivesThePreviousEndOfTheRef", testRecordRefStatusGivesThePreviousEndOfTheRef},
		{"SubCardUpdateCreatesThenKeeps", testSubCardUpdateCreatesThenKeeps},
		{"UnfurlsSurviveReopenAndDelete", testUnfurlsSurviveReopenAndDelete},
		{"PutUnfurlRefusesIncompleteRecords", testPutUnfurlRefusesIncompleteRecords},
		{"PutUnfurlEvictsTheOldestBeyondTheBound", testPutUnfurlEvictsTheOldestBeyondTheBound},
		{"ScanOrdersPrefixesAndStops", testScanOrdersPrefixesAndStops},
		{"UpdateIsAllOrNothing", testUpdateIsAllOrNothing},
		{"SequencesAndBuckets", testSequencesAndBuckets},
		{"TwoProcessesMarkOnceHaveOneFirst", testTwoProcessesMarkOnceHaveOneFirst},
		{"TwoProcessesReadModifyWriteLoseNothing", testTwoProcessesReadModifyWriteLoseNothing},
		{"TwoProcessesClaimOneCard", testTwoProcessesClaimOneCard},
		{"TwoProcessesSeeEachOthersWritesAtOnce", testTwoProcessesSeeEachOthersWritesAtOnce},
		{"TwoProcessesRacingCopiesOfADeliveryRunOne", testTwoProcessesRacingCopiesOfADeliveryRunOne},
		{"ALockHasOneHolderAcrossProcesses", testALockHasOneHolderAcrossProcesses},
		{"LinksSurviveReopenAndWithLinkIsOneReadModifyWrite", testLinksSurviveReopenAndWithLinkIsOneReadModifyWrite},
		{"LockLinkLetsOneHolderInAtATimePerLink", testLockLinkLetsOneHolderInAtATimePerLink},
		{"PendingLoginsAreSingleUseAndExpiredOnesArePruned", testPendingLoginsAreSingleUseAndExpiredOnesArePruned},
		{"InsightPipelinesAreReadPerProjectAndSince", testInsightPipelinesAreReadPerProjectAndSince},
		{"InsightSyncIsPerFilter", testInsightSyncIsPerFilter},
		{"PruneInsightsBoundsDaysAndProjects", testPruneInsightsBoundsDaysAndProjects},
		{"DigestsAddListDeleteAndClaimOncePerSlotAcrossReopen", testDigestsAddListDeleteAndClaimOncePerSlotAcrossReopen},
		{"QueueHandsItemsOverOnceInOrder", testQueueHandsItemsOverOnceInOrder},
		{"QueueRacingRedeliveriesQueueOne", testQueueRacingRedeliveriesQueueOne},
		{"LeaseHasOneHolderAndItsEpochFencesWrites", testLeaseHasOneHolderAndItsEpochFencesWrites},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, db)
		})
	}
}

// Open makes a fresh database and returns a Store on it, closed when t
// ends, and the clock it runs on.
func (db *DB) Open(t *testing.T) (*state.Store, *Clock) {
	t.Helper()
	o := &opened{open: db.target.NewDatabase(t), clock: NewClock()}
	db.mu.Lock()
	db.opens[t] = o
	db.mu.Unlock()
	o.first = db.reopen(t, o)
	return o.first, o.clock
}

// Reopen opens the database of t's last Open again (after the test closed
// its store), as a restarted pipebot would.
func (db *DB) Reopen(t *testing.T) *state.Store {
	t.Helper()
	db.mu.Lock()
	o := db.opens[t]
	db.mu.Unlock()
	if o == nil {
		t.Fatal("Reopen before Open")
	}
	return db.reopen(t, o)
}

// Second opens a second Store on the database of t's last Open while the
// first stays open, as another pipebot process would. On an engine whose
// database one process alone may open (bbolt) it returns the first Store:
// the test then races goroutines of one process.
func (db *DB) Second(t *testing.T) *state.Store {
	t.Helper()
	if !db.target.Shared {
		db.mu.Lock()
		defer db.mu.Unlock()
		return db.opens[t].first
	}
	return db.Reopen(t)
}

func (db *DB) reopen(t *testing.T, o *opened) *state.Store {
	t.Helper()
	s, err := o.open(state.Options{Now: o.clock.Now})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// Clock is an injectable clock that tests move by hand.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock at a fixed instant.
func NewClock() *Clock {
	return &Clock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock on.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// errAny marks a case that must fail, with an error the test cannot name.
var errAny = errors.New("any error")

func wk(channel string, project, pipeline int64) state.WatchKey {
	return state.WatchKey{Channel: channel, ProjectID: project, PipelineID: pipeline}
}

func sampleWatch(channel string, projectID, pipelineID int64) state.Watch {
	return state.Watch{
		ProjectID:  projectID,
		Project:    fmt.Sprintf("group/app%d", projectID),
		PipelineID: pipelineID,
		Channel:    channel,
		MessageTS:  "1700000000.000100",
		Requester:  "U123",
		LastStatus: "running",
		Broadcast:  true,
	}
}
