package provenance

// Summary counts the results of a check by status.
type Summary struct {
	Bases   int `json:"approvedBases"`
	Checked int `json:"checked"`
	OK      int `json:"ok"`
	Stale   int `json:"stale"`
	NoBase  int `json:"noApprovedBase"`
	Errors  int `json:"errors"`
}

// Summarize counts rs, checked against an index of bases approved bases.
func Summarize(rs []Result, bases int) Summary {
	s := Summary{Bases: bases, Checked: len(rs)}
	for _, r := range rs {
		switch r.Status {
		case StatusOK:
			s.OK++
		case StatusStale:
			s.Stale++
		case StatusNoBase:
			s.NoBase++
		default:
			s.Errors++
		}
	}
	return s
}
