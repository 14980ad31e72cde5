package report

import (
	"fmt"
	"io"

	"github.com/stratascan/strata/verify"
)

// VerifyPlan writes what a verification would contact, sending nothing:
// per secret its rule, fingerprint, provider and host, or why it would not
// be checked.
func VerifyPlan(w io.Writer, plan []verify.Request) error {
	rows := make([][]string, 0, len(plan))
	for _, p := range plan {
		rows = append(rows, []string{p.Rule, fpShort(p.Fingerprint), p.Provider, p.Host, p.Skip})
	}
	fmt.Fprintf(Unwrap(w), "Verification plan (nothing sent): %s\n", Plural(len(plan), "secret", "secrets"))
	return Table(w, []string{"RULE", "FINGERPRINT", "PROVIDER", "WOULD CONTACT", "NOT CHECKED BECAUSE"}, rows)
}

// VerifyPlanJSON writes the plan as {"verifyPlan": [...]}.
func VerifyPlanJSON(w io.Writer, plan []verify.Request) error {
	return JSON(w, map[string]any{"verifyPlan": plan})
}
