package store

import (
	"context"
	"fmt"
	"testing"

	"github.com/stratascan/strata/scan"
)

// BenchmarkRecordImage records images of 2 layers and 5 findings (one
// secret shared by all) spread over 20 repositories, one per iteration.
func BenchmarkRecordImage(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			s := open(b, be.dsn(b))
			ctx := context.Background()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				r := rec("reg.example", fmt.Sprint("repo", i%20), fmt.Sprint("m", i), fmt.Sprint("t", i))
				fs := []scan.Finding{finding("AKIASHAREDSHAREDSHAR", "aws", "high", "/shared", 0)}
				for j := 0; j < 4; j++ {
					fs = append(fs, finding(fmt.Sprintf("ghp_%06d%02dxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", i, j), "github", "high", fmt.Sprint("/own", j), 1))
				}
				if err := s.RecordImage(ctx, r, fs, t0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
