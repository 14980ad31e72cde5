// Package report renders strata's results for people and machines: aligned
// tables, stable JSON, and SARIF 2.1.0 for code-scanning dashboards. It
// formats values it is given and does no I/O of its own beyond the writer.
package report
