package inspect

import "github.com/stratascan/strata/image"

// HistoryStep is one build step of an image's config history, with the
// layer it made (none for an empty layer).
type HistoryStep struct {
	Step        int          `json:"step"`
	Instruction string       `json:"instruction"`
	CreatedBy   string       `json:"createdBy,omitempty"` // raw, only when revealed
	Comment     string       `json:"comment,omitempty"`
	Created     string       `json:"created,omitempty"`
	Layer       *int         `json:"layer"`
	Digest      image.Digest `json:"digest,omitempty"`
	Size        int64        `json:"size,omitempty"`
}

// History turns im's build steps (image.Steps) into HistorySteps, their
// instructions with secret-looking build-arg values masked unless reveal
// (which also keeps the raw created_by).
func History(im *image.Image, reveal bool) []HistoryStep {
	var out []HistoryStep
	for _, st := range im.Steps() {
		s := HistoryStep{Step: st.Index}
		if h := st.History; h != nil {
			s.Instruction, s.Comment = Step(h.CreatedBy, reveal), h.Comment
			if reveal {
				s.CreatedBy = h.CreatedBy
			}
			if h.Created != nil {
				s.Created = h.Created.UTC().Format("2006-01-02T15:04:05Z")
			}
			if s.Instruction == "" {
				s.Instruction = "(no command recorded)"
			}
		} else {
			s.Instruction = "(layer without history)"
		}
		if l := st.Layer; l != nil {
			li := l.Index
			s.Layer, s.Digest, s.Size = &li, l.Descriptor.Digest, l.Descriptor.Size
		}
		out = append(out, s)
	}
	return out
}
