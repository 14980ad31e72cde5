package report

import "testing"

func TestBytes(t *testing.T) {
	for n, want := range map[int64]string{
		-1:      "unknown", // schema 1 layers record no size
		0:       "0 B",
		1023:    "1023 B",
		1536:    "1.5 KiB",
		3 << 20: "3.0 MiB",
	} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
}
