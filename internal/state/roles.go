package state

import (
	"errors"
	"fmt"
)

// roleRecord is a Slack user's role. The store does not judge the role name
// beyond refusing an empty one; the command router does.
type roleRecord struct {
	UserID string `json:"user_id"`
	Role   string `json:"role"`
}

// SetRole records the role of a Slack user.
func (s *Store) SetRole(userID, role string) error {
	key, err := roleKey(userID)
	if err != nil {
		return fmt.Errorf("set role of %s: %w", userID, err)
	}
	if role == "" {
		return fmt.Errorf("set role of %s: %w", userID, errors.New("role is empty"))
	}
	err = s.db.Update(func(tx Tx) error {
		return put(tx, bucketRoles, key, roleRecord{UserID: userID, Role: role})
	})
	if err != nil {
		return fmt.Errorf("set role of %s: %w", userID, err)
	}
	return nil
}

// DeleteRole removes a Slack user's role and reports whether there was one.
func (s *Store) DeleteRole(userID string) (existed bool, err error) {
	key, err := roleKey(userID)
	if err != nil {
		return false, fmt.Errorf("delete role of %s: %w", userID, err)
	}
	err = s.db.Update(func(tx Tx) error {
		existed, err = del(tx, bucketRoles, key)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("delete role of %s: %w", userID, err)
	}
	return existed, nil
}

// Role returns a Slack user's recorded role; found is false if none is set.
func (s *Store) Role(userID string) (role string, found bool, err error) {
	key, err := roleKey(userID)
	if err != nil {
		return "", false, fmt.Errorf("get role of %s: %w", userID, err)
	}
	var r roleRecord
	err = s.db.View(func(tx Tx) error {
		found, err = get(tx, bucketRoles, key, &r)
		return err
	})
	if err != nil {
		return "", false, fmt.Errorf("get role of %s: %w", userID, err)
	}
	return r.Role, found, nil
}

// Roles returns every recorded role by Slack user id.
func (s *Store) Roles() (map[string]string, error) {
	roles := make(map[string]string)
	err := s.db.View(func(tx Tx) error {
		clear(roles)
		return each(tx, bucketRoles, func(r roleRecord) error {
			roles[r.UserID] = r.Role
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list roles: %w", err)
	}
	return roles, nil
}
