package image

import (
	"strings"
)

// BuildArg is one build argument recorded in a RUN step's created_by
// ("|2 A=a B=b /bin/sh -c cmd"): the classic builder and BuildKit both
// prefix the shell command with the count and the NAME=value pairs.
type BuildArg struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Instruction is a history created_by read as a Dockerfile-like step.
type Instruction struct {
	// Text is the step as Dockerfile-like text without its build args
	// ("RUN apt-get update", "ENV A=b", "COPY . /app").
	Text string `json:"text"`
	// BuildArgs are the build arguments the step recorded, in order.
	BuildArgs []BuildArg `json:"buildArgs,omitempty"`
}

// ParseInstruction reads a history created_by: "/bin/sh -c #(nop) X" is the
// metadata instruction X, "/bin/sh -c cmd" (or BuildKit's "RUN /bin/sh -c
// cmd") is RUN cmd, a "|N A=a ..." prefix lists build args, a trailing
// " # buildkit" marker is dropped; anything else is kept as written.
func ParseInstruction(createdBy string) Instruction {
	s := strings.TrimSuffix(strings.TrimSpace(createdBy), " # buildkit")
	const sh, nop = "/bin/sh -c ", "/bin/sh -c #(nop) "
	if rest, ok := strings.CutPrefix(s, "RUN "); ok && (strings.HasPrefix(rest, "|") || strings.HasPrefix(rest, sh)) {
		s = rest
	}
	switch {
	case strings.HasPrefix(s, nop):
		return Instruction{Text: strings.TrimSpace(s[len(nop):])}
	case strings.HasPrefix(s, "|"):
		if i := strings.Index(s, sh); i > 0 {
			in := Instruction{Text: "RUN " + s[i+len(sh):]}
			for _, kv := range strings.Fields(s[strings.IndexByte(s, ' ')+1 : i]) {
				k, v, _ := strings.Cut(kv, "=")
				in.BuildArgs = append(in.BuildArgs, BuildArg{Name: k, Value: v})
			}
			return in
		}
	case strings.HasPrefix(s, sh):
		return Instruction{Text: "RUN " + s[len(sh):]}
	}
	return Instruction{Text: s}
}

// Step is one entry of an image's build history aligned with its layers.
type Step struct {
	// Index is the step's position in the config history; steps for
	// layers beyond the history follow it.
	Index int
	// History is the config history entry, nil for a layer without one.
	History *History
	// Layer is the layer the step made, nil for a step that made none.
	Layer *Layer
}

// Steps aligns im's config history with its layers: empty_layer steps own
// no layer, the others take layers in order, and layers beyond the history
// are listed as steps of their own.
func (im *Image) Steps() []Step {
	byHist := map[int]int{}
	for i, l := range im.Layers {
		if l.HistoryIndex >= 0 {
			byHist[l.HistoryIndex] = i
		}
	}
	var out []Step
	used := map[int]bool{}
	if im.Config != nil {
		for i := range im.Config.History {
			s := Step{Index: i, History: &im.Config.History[i]}
			if li, ok := byHist[i]; ok {
				s.Layer = &im.Layers[li]
				used[li] = true
			}
			out = append(out, s)
		}
	}
	for i := range im.Layers {
		if !used[i] {
			out = append(out, Step{Index: len(out), Layer: &im.Layers[i]})
		}
	}
	return out
}
