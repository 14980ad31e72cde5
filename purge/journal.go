package purge

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// ErrJournal reports a journal that cannot be read or written.
var ErrJournal = errors.New("purge journal")

// Entry is one line of a journal. The first line has Type "plan"; then each
// step has a "start" line before its request and a "done" line after it.
type Entry struct {
	Type    string          `json:"type"` // plan | step | verify
	Time    time.Time       `json:"time"`
	Plan    *Plan           `json:"plan,omitempty"`
	Options *ApplyOptions   `json:"options,omitempty"`
	Step    *Step           `json:"step,omitempty"`
	State   string          `json:"state,omitempty"` // start | done | failed
	Outcome string          `json:"outcome,omitempty"`
	Error   string          `json:"error,omitempty"`
	Verdict string          `json:"verdict,omitempty"`
	Extra   json.RawMessage `json:"extra,omitempty"`
}

// Journal appends entries to a file, one JSON line each, synced to disk
// before the request it announces is sent.
type Journal struct {
	mu sync.Mutex
	f  *os.File
	// now is replaceable for golden tests.
	now func() time.Time
}

// CreateJournal creates a new journal file; it refuses to overwrite one.
func CreateJournal(path string) (*Journal, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%w: creating %s: %w", ErrJournal, path, err)
	}
	return &Journal{f: f, now: time.Now}, nil
}

// AppendJournal opens an existing journal to continue it.
func AppendJournal(path string) (*Journal, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: opening %s: %v", ErrJournal, path, err)
	}
	return &Journal{f: f, now: time.Now}, nil
}

// Write appends one entry and syncs the file. A nil Journal ignores it.
func (j *Journal) Write(e Entry) error {
	if j == nil {
		return nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	e.Time = j.now().UTC()
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("%w: encoding entry: %v", ErrJournal, err)
	}
	b = append(b, '\n')
	if _, err := j.f.Write(b); err != nil {
		return fmt.Errorf("%w: writing %s: %v", ErrJournal, j.f.Name(), err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("%w: syncing %s: %v", ErrJournal, j.f.Name(), err)
	}
	return nil
}

// Close closes the file.
func (j *Journal) Close() error {
	if j == nil {
		return nil
	}
	return j.f.Close()
}

// Replay is what a journal says happened.
type Replay struct {
	Plan    *Plan
	Options ApplyOptions
	// Done maps step numbers to their outcome.
	Done map[int]string
	// Started are steps begun but not finished: their request may or may
	// not have reached the registry.
	Started map[int]bool
	// Verified is true when a verify entry closed the journal.
	Verified bool
}

// ReadJournal replays a journal. A torn last line (a crash mid-write) is
// ignored; anything else malformed is an error.
func ReadJournal(r io.Reader) (*Replay, error) {
	rp := &Replay{Done: map[int]string{}, Started: map[int]bool{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<20), 256<<20)
	var lines [][]byte
	for sc.Scan() {
		lines = append(lines, append([]byte(nil), sc.Bytes()...))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: reading: %v", ErrJournal, err)
	}
	for i, line := range lines {
		if len(line) == 0 {
			continue
		}
		var e Entry
		if err := json.Unmarshal(line, &e); err != nil {
			if i == len(lines)-1 {
				break // torn final write
			}
			return nil, fmt.Errorf("%w: line %d is not a journal entry: %v", ErrJournal, i+1, err)
		}
		switch e.Type {
		case "plan":
			if rp.Plan != nil {
				return nil, fmt.Errorf("%w: line %d: a second plan", ErrJournal, i+1)
			}
			rp.Plan = e.Plan
			if e.Options != nil {
				rp.Options = *e.Options
			}
		case "step":
			if e.Step == nil {
				return nil, fmt.Errorf("%w: line %d: step entry without a step", ErrJournal, i+1)
			}
			switch e.State {
			case "start":
				rp.Started[e.Step.N] = true
			case "done":
				delete(rp.Started, e.Step.N)
				rp.Done[e.Step.N] = e.Outcome
			case "failed":
				// stays started: retried on resume
			}
		case "verify":
			rp.Verified = true
		}
	}
	if rp.Plan == nil {
		return nil, fmt.Errorf("%w: no plan entry (not a strata purge journal?)", ErrJournal)
	}
	return rp, nil
}
