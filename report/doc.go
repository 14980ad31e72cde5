// Package report renders strata's results for people and machines: aligned
// tables, stable JSON (JSON, the one encoder every command uses), SARIF
// 2.1.0 for code-scanning dashboards, and a self-contained HTML5 page (HTML,
// from the embedded templates HTMLTemplates parses). It owns every
// command's renderers, one severity ordering (SeverityAtLeast) and one
// format check (CheckFormat): a command only picks the renderer for its
// --format. It formats values it is given and does no I/O of its own
// beyond the writer.
package report
