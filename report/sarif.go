package report

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/stratascan/strata/scan"
)

// SARIF 2.1.0, as GitHub code scanning accepts it.
type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool    sarifTool     `json:"tool"`
	Results []sarifResult `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	InformationURI string      `json:"informationUri"`
	Version        string      `json:"version"`
	Rules          []sarifRule `json:"rules"`
}

type sarifText struct {
	Text string `json:"text"`
}

type sarifRule struct {
	ID                   string            `json:"id"`
	Name                 string            `json:"name"`
	ShortDescription     sarifText         `json:"shortDescription"`
	FullDescription      sarifText         `json:"fullDescription"`
	Help                 sarifText         `json:"help"`
	DefaultConfiguration map[string]string `json:"defaultConfiguration"`
	Properties           map[string]any    `json:"properties"`
}

type sarifResult struct {
	RuleID              string            `json:"ruleId"`
	RuleIndex           int               `json:"ruleIndex"`
	Level               string            `json:"level"`
	Message             sarifText         `json:"message"`
	Locations           []sarifLocation   `json:"locations"`
	PartialFingerprints map[string]string `json:"partialFingerprints"`
	Properties          map[string]any    `json:"properties"`
}

type sarifLocation struct {
	PhysicalLocation sarifPhysical  `json:"physicalLocation"`
	LogicalLocations []sarifLogical `json:"logicalLocations,omitempty"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifact `json:"artifactLocation"`
	Region           *sarifRegion  `json:"region,omitempty"`
}

type sarifArtifact struct {
	URI string `json:"uri"`
}

type sarifRegion struct {
	StartLine int `json:"startLine"`
}

type sarifLogical struct {
	Name               string `json:"name"`
	FullyQualifiedName string `json:"fullyQualifiedName"`
	Kind               string `json:"kind"`
}

var securitySeverity = map[string]string{"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0"}

func sarifLevel(sev string) string {
	switch strings.ToLower(sev) {
	case "critical", "high":
		return "error"
	case "medium":
		return "warning"
	}
	return "note"
}

// SARIF writes findings as a SARIF 2.1.0 log. Secret values never appear:
// messages carry the redacted match and the fingerprint.
func SARIF(w io.Writer, res *scan.Result, version string) error {
	ruleIdx := map[string]int{}
	var rules []sarifRule
	ids := []string{}
	byID := map[string]scan.Finding{}
	for _, f := range res.Findings {
		if _, ok := byID[f.Rule]; !ok {
			byID[f.Rule] = f
			ids = append(ids, f.Rule)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		f := byID[id]
		ruleIdx[id] = len(rules)
		rules = append(rules, sarifRule{
			ID: id, Name: id,
			ShortDescription:     sarifText{f.Description},
			FullDescription:      sarifText{f.Description + " found in a container image layer or config."},
			Help:                 sarifText{f.Remediation},
			DefaultConfiguration: map[string]string{"level": sarifLevel(f.Severity)},
			Properties:           map[string]any{"tags": []string{"security", "secret", "container"}, "security-severity": securitySeverity[strings.ToLower(f.Severity)]},
		})
	}
	results := []sarifResult{}
	for _, f := range res.Findings {
		uri := strings.TrimPrefix(f.Path, "/")
		if i := strings.Index(uri, "!"); i >= 0 {
			uri = uri[:i] // archive member: point at the archive file
		}
		msg := fmt.Sprintf("%s in %s", f.Description, f.Path)
		if f.Layer != nil {
			msg += fmt.Sprintf(" (layer %d", *f.Layer)
			if f.State != "" && f.State != "present" && f.HiddenBy != nil {
				msg += fmt.Sprintf(", %s by layer %d but still recoverable from the image", f.State, *f.HiddenBy)
			}
			msg += ")"
		}
		msg += fmt.Sprintf(" of %s: %s [fingerprint %s]", f.Image, f.Redacted, f.Fingerprint)
		fqn := f.Image + "@" + string(f.Manifest)
		if f.Layer != nil {
			fqn += fmt.Sprintf("#layer/%d", *f.Layer)
		}
		loc := sarifLocation{
			PhysicalLocation: sarifPhysical{ArtifactLocation: sarifArtifact{URI: uri}},
			LogicalLocations: []sarifLogical{{Name: f.Path, FullyQualifiedName: fqn, Kind: "resource"}},
		}
		if f.Line > 0 {
			loc.PhysicalLocation.Region = &sarifRegion{StartLine: f.Line}
		}
		props := map[string]any{"state": f.State, "image": f.Image, "manifest": f.Manifest, "platform": f.Platform}
		if f.Layer != nil {
			props["layer"], props["layerDigest"], props["diffID"] = *f.Layer, f.LayerDigest, f.DiffID
		}
		if f.HiddenBy != nil {
			props["hiddenBy"] = *f.HiddenBy
		}
		if f.CreatedBy != "" {
			props["createdBy"] = f.CreatedBy
		}
		if f.Confidence != "" {
			props["confidence"] = f.Confidence
		}
		if f.Validation != "" {
			props["validation"] = f.Validation
		}
		if f.Context != "" {
			props["context"] = f.Context
		}
		results = append(results, sarifResult{
			RuleID: f.Rule, RuleIndex: ruleIdx[f.Rule], Level: sarifLevel(f.Severity), Message: sarifText{msg},
			Locations:           []sarifLocation{loc},
			PartialFingerprints: map[string]string{"secretFingerprint/v1": f.Fingerprint},
			Properties:          props,
		})
	}
	return JSON(w, sarifLog{
		Schema:  "https://json.schemastore.org/sarif-2.1.0.json",
		Version: "2.1.0",
		Runs: []sarifRun{{
			Tool:    sarifTool{Driver: sarifDriver{Name: "strata", InformationURI: "https://github.com/stratascan/strata", Version: version, Rules: rules}},
			Results: results,
		}},
	})
}
