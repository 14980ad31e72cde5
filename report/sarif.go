package report

import (
	"fmt"
	"io"
	"net/url"
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

// sarifLocationOf says where a finding is. A layer file's artifact is its
// path in the image as a relative URI reference (an archive member points
// at the archive); a config or attestation finding has no file, so its
// artifact is the image itself, named by its reference as one escaped
// relative segment, and the logical location says which config field.
// Either way the uri is a valid relative reference (RFC 3986 section 4.2:
// no colon in the first segment), as SARIF 2.1.0 section 3.4.3 requires.
func sarifLocationOf(f scan.Finding) sarifLocation {
	fqn := f.Image + "@" + string(f.Manifest)
	var uri, kind string
	if f.Layer != nil {
		fqn += fmt.Sprintf("#layer/%d", *f.Layer)
		p, _, _ := strings.Cut(strings.TrimLeft(f.Path, "/"), "!")
		uri, kind = relativeURI(p), "resource"
	} else {
		fqn += "#" + f.Path
		uri, kind = relativeURI(f.Image), "object"
	}
	return sarifLocation{
		PhysicalLocation: sarifPhysical{ArtifactLocation: sarifArtifact{URI: uri}},
		LogicalLocations: []sarifLogical{{Name: FindingPath(f), FullyQualifiedName: fqn, Kind: kind}},
	}
}

// relativeURI escapes each slash-separated segment of p, colons too, so the
// result is a relative-path reference whatever p holds.
func relativeURI(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = strings.ReplaceAll(url.PathEscape(s), ":", "%3A")
	}
	return strings.Join(segs, "/")
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
		msg := fmt.Sprintf("%s in %s", f.Description, FindingPath(f))
		if f.Encoding != "" {
			msg += " (" + f.Encoding + "-encoded)"
		}
		if f.Layer != nil {
			msg += fmt.Sprintf(" (layer %d", *f.Layer)
			if f.State != "" && f.State != "present" && f.HiddenBy != nil {
				msg += fmt.Sprintf(", %s by layer %d but still recoverable from the image", f.State, *f.HiddenBy)
			}
			msg += ")"
		}
		msg += fmt.Sprintf(" of %s: %s [fingerprint %s]", f.Image, f.Redacted, f.Fingerprint)
		loc := sarifLocationOf(f)
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
		if f.Encoding != "" {
			props["encoding"] = f.Encoding
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
		if f.Verification != nil {
			props["verification"] = f.Verification
			msg += "; " + VerificationText(f.Verification)
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
