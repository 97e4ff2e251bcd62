package state

import (
	"fmt"
	"time"
)

// cursorRecord is a project's poll cursor: the watcher's updated_after.
type cursorRecord struct {
	ProjectID    int64     `json:"project_id"`
	UpdatedAfter time.Time `json:"updated_after"`
}

// Cursor returns the poll cursor of a project; found is false if none is set.
func (s *Store) Cursor(projectID int64) (t time.Time, found bool, err error) {
	key, err := cursorKey(projectID)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("get cursor of project %d: %w", projectID, err)
	}
	var c cursorRecord
	err = s.db.View(func(tx Tx) error {
		found, err = get(tx, bucketCursors, key, &c)
		return err
	})
	if err != nil {
		return time.Time{}, false, fmt.Errorf("get cursor of project %d: %w", projectID, err)
	}
	return c.UpdatedAfter, found, nil
}

// SetCursor stores the poll cursor of a project (kept in UTC).
func (s *Store) SetCursor(projectID int64, t time.Time) error {
	key, err := cursorKey(projectID)
	if err != nil {
		return fmt.Errorf("set cursor of project %d: %w", projectID, err)
	}
	err = s.db.Update(func(tx Tx) error {
		return put(tx, bucketCursors, key, cursorRecord{ProjectID: projectID, UpdatedAfter: t.UTC()})
	})
	if err != nil {
		return fmt.Errorf("set cursor of project %d: %w", projectID, err)
	}
	return nil
}
