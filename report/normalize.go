package report

import (
	"github.com/stratascan/strata/inspect"
	"github.com/stratascan/strata/scan"
)

// NormalizeFindings writes every layer file path of res the one way strata
// prints paths in an image (with a leading slash) and, unless reveal, masks
// secret-looking build-arg values in the build steps findings cite.
func NormalizeFindings(res *scan.Result, reveal bool) {
	for i := range res.Findings {
		f := &res.Findings[i]
		f.Path = FindingPath(*f)
		if !reveal {
			f.CreatedBy = inspect.MaskCreatedBy(f.CreatedBy)
		}
	}
	for i := range res.Coverage.Skipped {
		res.Coverage.Skipped[i].Path = ImagePath(res.Coverage.Skipped[i].Path)
	}
}
