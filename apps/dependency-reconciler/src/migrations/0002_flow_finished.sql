-- A flow is finished when none of its executions is live any more: `finished_at` is set (and a
-- running flow becomes `finished`; a cancelled one keeps `cancelled`).
--
-- The check runs at COMMIT (a deferred constraint trigger) and first locks the flow row, then
-- looks for live executions in a fresh snapshot. Two transactions that end a flow's last two
-- executions at once are thereby serialized on the flow row: the second one sees the first's
-- commit and marks the flow. Taking the flow lock last, at commit, after every execution row
-- lock the transaction needs, keeps it out of lock cycles with hops and cancels. The lock is FOR
-- NO KEY UPDATE: completion-event inserts hold FOR KEY SHARE on the flow row (their foreign key),
-- which FOR UPDATE would conflict with.
CREATE FUNCTION deps_mark_flow_finished() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM 1 FROM deps_flows WHERE id = NEW.flow_id AND finished_at IS NULL FOR NO KEY UPDATE;
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  UPDATE deps_flows
  SET state = CASE WHEN state = 'running' THEN 'finished' ELSE state END,
      finished_at = clock_timestamp()
  WHERE id = NEW.flow_id AND finished_at IS NULL
    AND NOT EXISTS (
      SELECT 1 FROM deps_executions
      WHERE flow_id = NEW.flow_id AND state IN ('blocked', 'runnable', 'running')
    );
  RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER deps_executions_flow_finished
  AFTER UPDATE OF state ON deps_executions
  DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW
  WHEN (
    NEW.state IN ('succeeded', 'failed', 'cancelled', 'skipped')
    AND OLD.state IN ('blocked', 'runnable', 'running')
  )
  EXECUTE FUNCTION deps_mark_flow_finished();

-- Keeps the "any live execution left?" check short on big flows: only live rows are indexed.
CREATE INDEX deps_executions_live ON deps_executions (flow_id) WHERE state IN ('blocked', 'runnable', 'running');
