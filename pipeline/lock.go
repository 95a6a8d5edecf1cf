package pipeline

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// ErrLocked means another outcomes process holds the state folder's lock.
var ErrLocked = errors.New("another outcomes process is using this state folder")

// LockError says who holds the lock and since when.
type LockError struct{ Holder string }

func (e *LockError) Error() string {
	return fmt.Sprintf("%v (held by %s); wait for it to finish, or stop it", ErrLocked, e.Holder)
}

func (e *LockError) Unwrap() error { return ErrLocked }

// Lock takes an exclusive advisory lock on stateDir/lock so that run,
// schedule and tokens never write the same state at once. The kernel drops
// the lock when the process dies, so a killed run never leaves it stale.
func Lock(stateDir string, now time.Time) (unlock func(), err error) {
	path := filepath.Join(stateDir, "lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		h := strings.TrimSpace(string(holder))
		if h == "" {
			h = "an unknown process"
		}
		return nil, &LockError{Holder: h}
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(fmt.Sprintf("process %d since %s\n", os.Getpid(), now.UTC().Format(time.RFC3339))), 0)
	return func() {
		_ = f.Truncate(0)
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
