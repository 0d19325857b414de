-- The journal becomes authenticated (docs/journal.md): each entry's `mac` is
-- HMAC-SHA256, under the console's journal key from the OS keychain, over the entry's
-- hash. Entries written before this migration have none; the first entry written after
-- it vouches for them through the chain. ALTER TABLE fires no trigger.
ALTER TABLE journal ADD COLUMN mac TEXT;

-- Incidents are in the chain now (incident.opened / incident.closed entries), and verify
-- compares this table with it. These triggers only keep honest mistakes out: the one
-- change allowed is closing an open incident, once.
CREATE TRIGGER incidents_no_delete BEFORE DELETE ON incidents
BEGIN
    SELECT RAISE(ABORT, 'incidents are append-only');
END;

CREATE TRIGGER incidents_close_only BEFORE UPDATE ON incidents
WHEN NEW.id IS NOT OLD.id
  OR NEW.title IS NOT OLD.title
  OR NEW.opened_at IS NOT OLD.opened_at
  OR NEW.opened_by IS NOT OLD.opened_by
  OR OLD.closed_at IS NOT NULL
  OR NEW.closed_at IS NULL
BEGIN
    SELECT RAISE(ABORT, 'an incident can only be closed, once');
END;
