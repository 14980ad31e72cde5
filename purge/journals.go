package purge

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// JournalSummary is what a purge journal records: its repository, when it
// was last written, how many of the plan's steps are done and whether the
// purge was verified; Error when it cannot be read.
type JournalSummary struct {
	Path       string `json:"path"`
	Repository string `json:"repository"`
	Modified   string `json:"modified"`
	Steps      int    `json:"steps"`
	Done       int    `json:"done"`
	Verified   bool   `json:"verified"`
	Error      string `json:"error,omitempty"`
}

// Journals summarizes the purge journals (strata-purge-*.jsonl) in dir,
// newest first. A missing dir has none.
func Journals(dir string) ([]JournalSummary, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "strata-purge-*.jsonl"))
	if err != nil {
		return nil, err
	}
	out := []JournalSummary{}
	for _, p := range paths {
		out = append(out, SummarizeJournal(p))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Modified > out[j].Modified })
	return out, nil
}

// SummarizeJournal reads the journal at path. A journal that cannot be
// read gives a summary with Error set, so one bad file does not hide the
// others.
func SummarizeJournal(path string) JournalSummary {
	s := JournalSummary{Path: path}
	fi, err := os.Stat(path)
	if err != nil {
		s.Error = err.Error()
		return s
	}
	s.Modified = fi.ModTime().UTC().Format(time.RFC3339)
	f, err := os.Open(path)
	if err != nil {
		s.Error = err.Error()
		return s
	}
	defer f.Close()
	rp, err := ReadJournal(f)
	if err != nil {
		s.Error = strings.TrimSpace(err.Error())
		return s
	}
	if rp.Plan != nil {
		s.Repository, s.Steps = rp.Plan.Repository, len(rp.Plan.Steps())
	}
	s.Done, s.Verified = len(rp.Done), rp.Verified
	return s
}
