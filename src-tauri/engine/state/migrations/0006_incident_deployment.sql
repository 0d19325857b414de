-- An incident belongs to one deployment (NULL: opened before this migration, console
-- wide). At most one open incident per deployment; an entry about a deployment goes to
-- its open incident. Responders' notes are `incident.note` entries in the chain, not a
-- table: they are evidence like the rest.
ALTER TABLE incidents ADD COLUMN deployment TEXT;

CREATE UNIQUE INDEX incidents_one_open_per_deployment
    ON incidents (deployment) WHERE closed_at IS NULL AND deployment IS NOT NULL;

DROP TRIGGER incidents_close_only;
CREATE TRIGGER incidents_close_only BEFORE UPDATE ON incidents
WHEN NEW.id IS NOT OLD.id
  OR NEW.title IS NOT OLD.title
  OR NEW.opened_at IS NOT OLD.opened_at
  OR NEW.opened_by IS NOT OLD.opened_by
  OR NEW.deployment IS NOT OLD.deployment
  OR OLD.closed_at IS NOT NULL
  OR NEW.closed_at IS NULL
BEGIN
    SELECT RAISE(ABORT, 'an incident can only be closed, once');
END;
