-- Fast dispatch: one statement per hop, a lease so replicas split events instead of racing on the
-- same group locks, and a finished-flow check that no longer serializes a flow's completions.

-- A dispatcher leases an event (one UPDATE) before dispatching it; other replicas skip a leased
-- event until the lease runs out. The lease only saves duplicate work: exactly-once per edge still
-- rests on the group lock and the edge's applied marker, so an expired lease (a slow or dead
-- dispatcher) is safe.
ALTER TABLE deps_completion_events ADD COLUMN lease_until timestamptz;

-- The policies of src/Policy.ts (`evaluate`), for the hop function. test/PolicySql.test.ts checks
-- it against Policy.evaluate on every counter combination up to 6 upstreams.
CREATE FUNCTION deps_policy_evaluate(policy text, quorum_k integer, total integer, succeeded integer, not_succeeded integer)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE policy
    WHEN 'any_of' THEN
      CASE WHEN succeeded > 0 THEN 'satisfied' WHEN not_succeeded >= total THEN 'impossible' ELSE 'pending' END
    WHEN 'quorum' THEN
      CASE WHEN succeeded >= coalesce(quorum_k, 1) THEN 'satisfied'
           WHEN total - not_succeeded < coalesce(quorum_k, 1) THEN 'impossible' ELSE 'pending' END
    WHEN 'all_done' THEN
      CASE WHEN succeeded + not_succeeded >= total THEN 'satisfied' ELSE 'pending' END
    ELSE
      CASE WHEN not_succeeded > 0 THEN 'impossible' WHEN succeeded >= total THEN 'satisfied' ELSE 'pending' END
  END
$$;

-- Inserts a completion event for an execution, labelled by the caller (the cascade inherits the
-- parent event's namespace and instance tag). Returns its id.
CREATE FUNCTION deps_insert_event(p_execution_id bigint, p_outcome text, p_namespace text, p_instance_tag text)
RETURNS bigint LANGUAGE sql AS $$
  INSERT INTO deps_completion_events (execution_id, flow_id, outcome, namespace, instance_tag)
  SELECT id, flow_id, p_outcome, p_namespace, p_instance_tag FROM deps_executions WHERE id = p_execution_id
  RETURNING id
$$;

-- Sets a flow's finished_at (running → finished) if none of its executions is live, without
-- waiting on anything when some are. Called after every dispatched event (see deps_apply_hop).
CREATE FUNCTION deps_finish_flow_if_done(p_flow_id bigint) RETURNS void LANGUAGE sql AS $$
  UPDATE deps_flows
  SET state = CASE WHEN state = 'running' THEN 'finished' ELSE state END,
      finished_at = clock_timestamp()
  WHERE id = p_flow_id AND finished_at IS NULL
    AND NOT EXISTS (
      SELECT 1 FROM deps_executions
      WHERE flow_id = p_flow_id AND state IN ('blocked', 'runnable', 'running')
    )
$$;

-- Marks an event dispatched (attempts + 1, lease released) and checks its flow for the end.
CREATE FUNCTION deps_finish_event(p_event_id bigint) RETURNS void LANGUAGE sql AS $$
  UPDATE deps_completion_events
  SET dispatched_at = clock_timestamp(), attempts = attempts + 1, lease_until = NULL
  WHERE id = p_event_id AND dispatched_at IS NULL;
  SELECT deps_finish_flow_if_done((SELECT flow_id FROM deps_completion_events WHERE id = p_event_id));
$$;

-- One hop, one statement (its own transaction when called alone): under the group's row lock,
-- marks the edge applied (exactly once: a set marker means nothing to do), bumps the counters,
-- makes the one-shot decision, transitions the downstream, writes the `skipped` event and the
-- `cancel_remaining` sibling cancellations (locked in id order, events in id order), all labelled
-- like the parent event. With p_finish (the event's last hop) it also marks the event dispatched
-- and, once nothing in the flow is live, the flow finished.
CREATE FUNCTION deps_apply_hop(p_event_id bigint, p_upstream_id bigint, p_downstream_id bigint, p_finish boolean)
RETURNS TABLE (applied boolean, policy text, decided text, events_written bigint[], eligible_after_ms float8)
LANGUAGE plpgsql AS $$
DECLARE
  ev deps_completion_events%ROWTYPE;
  g deps_edge_groups%ROWTYPE;
  success boolean;
  new_succeeded integer;
  new_not_succeeded integer;
  new_decision text;
  written bigint[] := '{}';
  eligible float8;
  sibling bigint;
  reason text;
BEGIN
  SELECT * INTO ev FROM deps_completion_events WHERE id = p_event_id;
  SELECT * INTO g FROM deps_edge_groups WHERE downstream_id = p_downstream_id FOR UPDATE;
  applied := false;
  policy := coalesce(g.policy, '');
  IF FOUND THEN
    UPDATE deps_edges SET applied_event_id = p_event_id, applied_at = clock_timestamp()
    WHERE upstream_id = p_upstream_id AND downstream_id = p_downstream_id AND applied_event_id IS NULL;
    applied := FOUND;
  END IF;
  IF applied THEN
    success := ev.outcome = 'succeeded';
    new_succeeded := g.succeeded + CASE WHEN success THEN 1 ELSE 0 END;
    new_not_succeeded := g.not_succeeded + CASE WHEN success THEN 0 ELSE 1 END;
    new_decision := CASE WHEN g.decision = 'pending'
      THEN deps_policy_evaluate(g.policy, g.quorum_k, g.total, new_succeeded, new_not_succeeded)
      ELSE g.decision END;
    IF g.decision = 'pending' AND new_decision <> 'pending' THEN
      decided := new_decision;
    END IF;
    UPDATE deps_edge_groups
    SET succeeded = new_succeeded, not_succeeded = new_not_succeeded, decision = new_decision,
        decided_at = CASE WHEN decided IS NOT NULL THEN clock_timestamp() ELSE decided_at END
    WHERE downstream_id = p_downstream_id;
    IF decided = 'satisfied' THEN
      UPDATE deps_executions SET state = 'runnable' WHERE id = p_downstream_id AND state = 'blocked'
      RETURNING (extract(epoch FROM clock_timestamp() - ev.committed_at) * 1000)::float8 INTO eligible;
      eligible_after_ms := eligible;
    ELSIF decided = 'impossible' THEN
      UPDATE deps_executions SET state = 'skipped', finished_at = clock_timestamp(),
        cancel_reason = 'dependencies can no longer be satisfied (' || g.policy || ')'
      WHERE id = p_downstream_id AND state = 'blocked';
      IF FOUND THEN
        written := written || deps_insert_event(p_downstream_id, 'skipped', ev.namespace, ev.instance_tag);
      END IF;
    END IF;
    IF decided IS NOT NULL AND g.on_satisfied = 'cancel_remaining' THEN
      reason := 'group of execution ' || p_downstream_id || ' decided ' || decided || ' (' || g.policy
        || '); remaining upstreams cancelled';
      -- Siblings are locked in id order so that hops cancelling overlapping sets do not deadlock.
      FOR sibling IN
        SELECT e.id FROM deps_executions e JOIN deps_edges d ON e.id = d.upstream_id
        WHERE d.downstream_id = p_downstream_id AND e.state IN ('blocked', 'runnable', 'running')
        ORDER BY e.id FOR UPDATE OF e
      LOOP
        UPDATE deps_executions SET state = 'cancelled', finished_at = clock_timestamp(), cancel_reason = reason
        WHERE id = sibling AND state IN ('blocked', 'runnable', 'running');
        IF FOUND THEN
          written := written || deps_insert_event(sibling, 'cancelled', ev.namespace, ev.instance_tag);
        END IF;
      END LOOP;
    END IF;
  END IF;
  events_written := written;
  IF p_finish THEN
    PERFORM deps_finish_event(p_event_id);
  END IF;
  -- A hop that ended no execution (counters, a decision, at most a downstream made runnable, the
  -- event's dispatched mark, the flow's finished mark) commits without waiting for its WAL flush,
  -- so a hot group's row lock is not held through an fsync, when it runs as its own transaction
  -- (first statement of the transaction). Safe: a crash loses at most a suffix of such commits,
  -- each with its edge marker, so the event is still pending and its replay applies the edge
  -- again, once; whoever acts on what such a hop did (a claim or completion of the runnable
  -- downstream, a later hop on the group) writes a durable commit, which flushes the WAL up to
  -- and including this hop first. A hop that made an execution terminal (skipped, cancelled)
  -- stays durable: a worker told "not live" must never see that undone.
  IF cardinality(written) = 0 AND transaction_timestamp() = statement_timestamp() THEN
    PERFORM set_config('synchronous_commit', 'off', true);
  END IF;
  RETURN NEXT;
END
$$;

-- The commit-time check of 0002 no longer locks the flow row first: it marks the flow finished
-- when its fresh snapshot sees nothing live, and otherwise costs one index probe. Two transactions
-- ending a flow's last two executions at once may both still see the other live; the dispatch of
-- the later-committed one's completion event (which runs after that commit, so it sees both
-- terminal) then marks the flow (deps_finish_flow_if_done in deps_apply_hop / finishing a
-- dispatch). Completions of one flow no longer queue on its row.
CREATE OR REPLACE FUNCTION deps_mark_flow_finished() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM deps_finish_flow_if_done(NEW.flow_id);
  RETURN NULL;
END
$$;

-- A dispatch's first statement: reads the event and its edges (applied markers, group policies,
-- in downstream id order) and either
--   'dispatched' — it was already dispatched: nothing to do;
--   'finished'   — no edge is left to apply (a leaf, or a replay after every hop committed): it is
--                  marked dispatched (and its flow checked for the end) right here;
--   'leased'     — edges are left and this caller now holds the lease for p_lease_ms;
--   'busy'       — another dispatcher holds an unexpired lease or the event row's lock.
CREATE FUNCTION deps_lease_event(p_event_id bigint, p_lease_ms double precision)
RETURNS TABLE (status text, id bigint, execution_id bigint, attempts integer, edges json)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  ev deps_completion_events%ROWTYPE;
  left_to_apply boolean;
BEGIN
  SELECT * INTO ev FROM deps_completion_events c WHERE c.id = p_event_id;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  id := ev.id;
  execution_id := ev.execution_id;
  attempts := ev.attempts;
  -- Replicas that all got the same NOTIFY do not queue on the event row: while another one holds
  -- its lease, or its row lock (it is leasing or finishing it right now), this one steps aside.
  IF ev.dispatched_at IS NOT NULL THEN
    status := 'dispatched';
    RETURN NEXT;
    RETURN;
  END IF;
  IF ev.lease_until > clock_timestamp() THEN
    status := 'busy';
    RETURN NEXT;
    RETURN;
  END IF;
  PERFORM 1 FROM deps_completion_events c WHERE c.id = p_event_id FOR NO KEY UPDATE SKIP LOCKED;
  IF NOT FOUND THEN
    status := 'busy';
    RETURN NEXT;
    RETURN;
  END IF;
  -- Locked: read it again, as a dispatcher that just released the lock may have finished it.
  SELECT * INTO ev FROM deps_completion_events c WHERE c.id = p_event_id;
  SELECT coalesce(json_agg(json_build_object(
           'downstream', d.downstream_id::text,
           'applied', d.applied_event_id IS NOT NULL,
           'policy', g.policy) ORDER BY d.downstream_id), '[]'::json),
         coalesce(bool_or(d.applied_event_id IS NULL), false)
    INTO edges, left_to_apply
  FROM deps_edges d JOIN deps_edge_groups g ON g.downstream_id = d.downstream_id
  WHERE d.upstream_id = ev.execution_id;
  IF ev.dispatched_at IS NOT NULL THEN
    status := 'dispatched';
  ELSIF NOT left_to_apply THEN
    UPDATE deps_completion_events c
    SET dispatched_at = clock_timestamp(), attempts = c.attempts + 1, lease_until = NULL
    WHERE c.id = p_event_id AND c.dispatched_at IS NULL;
    IF FOUND THEN
      status := 'finished';
      PERFORM deps_finish_flow_if_done(ev.flow_id);
    ELSE
      status := 'dispatched';
    END IF;
  ELSE
    UPDATE deps_completion_events c
    SET lease_until = clock_timestamp() + make_interval(secs => p_lease_ms / 1000)
    WHERE c.id = p_event_id AND c.dispatched_at IS NULL
      AND (c.lease_until IS NULL OR c.lease_until <= clock_timestamp());
    status := CASE WHEN FOUND THEN 'leased' ELSE 'busy' END;
  END IF;
  RETURN NEXT;
END
$$;

-- The push path's batch claim: leases up to p_limit pending events nobody holds (oldest first,
-- SKIP LOCKED, so replicas woken by the same NOTIFY take disjoint events), never one that failed
-- before (attempts > 0: those are left to the replay and the sweeper, so a poison event is not
-- retried in a loop). Events with no edge left to apply are marked dispatched right here
-- ('finished'); the others come back 'leased' with their edges, as deps_lease_event returns them.
CREATE FUNCTION deps_claim_events(p_limit integer, p_lease_ms double precision)
RETURNS TABLE (status text, id bigint, execution_id bigint, attempts integer, edges json)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  ev deps_completion_events%ROWTYPE;
  left_to_apply boolean;
BEGIN
  -- The claim's commit need not wait for its WAL flush (when it is its own transaction): a lease lost in a crash only means the event is free again, and a `finished`
  -- mark lost with it leaves the event pending, to be dispatched again (it has no edge left to
  -- apply, so that changes nothing but the mark). WAL is flushed in order, so any later durable
  -- commit (a hop, a completion) makes this one durable too. Hops stay durable commits.
  IF transaction_timestamp() = statement_timestamp() THEN
    PERFORM set_config('synchronous_commit', 'off', true);
  END IF;
  FOR ev IN
    UPDATE deps_completion_events c
    SET lease_until = clock_timestamp() + make_interval(secs => p_lease_ms / 1000)
    WHERE c.id IN (
      SELECT p.id FROM deps_completion_events p
      WHERE p.dispatched_at IS NULL AND p.attempts = 0
        AND (p.lease_until IS NULL OR p.lease_until <= clock_timestamp())
      ORDER BY p.id LIMIT p_limit FOR NO KEY UPDATE SKIP LOCKED
    )
    RETURNING c.*
  LOOP
    id := ev.id;
    execution_id := ev.execution_id;
    attempts := ev.attempts;
    SELECT coalesce(json_agg(json_build_object(
             'downstream', d.downstream_id::text,
             'applied', d.applied_event_id IS NOT NULL,
             'policy', g.policy) ORDER BY d.downstream_id), '[]'::json),
           coalesce(bool_or(d.applied_event_id IS NULL), false)
      INTO edges, left_to_apply
    FROM deps_edges d JOIN deps_edge_groups g ON g.downstream_id = d.downstream_id
    WHERE d.upstream_id = ev.execution_id;
    IF left_to_apply THEN
      status := 'leased';
    ELSE
      UPDATE deps_completion_events c
      SET dispatched_at = clock_timestamp(), attempts = c.attempts + 1, lease_until = NULL
      WHERE c.id = ev.id;
      PERFORM deps_finish_flow_if_done(ev.flow_id);
      status := 'finished';
    END IF;
    RETURN NEXT;
  END LOOP;
END
$$;
