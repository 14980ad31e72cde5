-- Findings lists page by last_seen (newest first): an index in that order
-- lets a filtered page stop early instead of sorting every finding.
CREATE INDEX findings_last_seen ON findings (last_seen, id);
