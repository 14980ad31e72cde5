package image

import (
	"reflect"
	"testing"
)

func TestParseInstruction(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Instruction
	}{
		{"/bin/sh -c #(nop)  ENV A=b", Instruction{Text: "ENV A=b"}},
		{"/bin/sh -c apt-get update", Instruction{Text: "RUN apt-get update"}},
		{"RUN /bin/sh -c make # buildkit", Instruction{Text: "RUN make"}},
		{"|2 TOKEN=abc MODE=x /bin/sh -c make", Instruction{Text: "RUN make", BuildArgs: []BuildArg{{"TOKEN", "abc"}, {"MODE", "x"}}}},
		{"RUN |1 K=v /bin/sh -c ls # buildkit", Instruction{Text: "RUN ls", BuildArgs: []BuildArg{{"K", "v"}}}},
		{"COPY . /app # buildkit", Instruction{Text: "COPY . /app"}},
		{"", Instruction{}},
	} {
		if got := ParseInstruction(c.in); !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseInstruction(%q) = %+v, want %+v", c.in, got, c.want)
		}
	}
}

func TestSteps(t *testing.T) {
	im := &Image{
		Config: &Config{History: []History{{CreatedBy: "a"}, {CreatedBy: "b", EmptyLayer: true}, {CreatedBy: "c"}}},
		Layers: []Layer{{Index: 0, HistoryIndex: 0}, {Index: 1, HistoryIndex: 2}, {Index: 2, HistoryIndex: -1}},
	}
	steps := im.Steps()
	if len(steps) != 4 {
		t.Fatalf("%d steps, want 4", len(steps))
	}
	for i, want := range []int{0, -1, 1, 2} {
		got := -1
		if steps[i].Layer != nil {
			got = steps[i].Layer.Index
		}
		if got != want {
			t.Errorf("step %d: layer %d, want %d", i, got, want)
		}
	}
	if steps[3].History != nil || steps[3].Index != 3 {
		t.Errorf("layer without history: %+v", steps[3])
	}
}
