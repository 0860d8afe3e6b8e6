CREATE TABLE deps_flows (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  namespace text NOT NULL,
  instance_tag text NOT NULL,
  state text NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'finished', 'cancelled')),
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  finished_at timestamptz
);

CREATE TABLE deps_executions (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  flow_id bigint NOT NULL REFERENCES deps_flows (id),
  name text NOT NULL,
  state text NOT NULL CHECK (
    state IN ('blocked', 'runnable', 'running', 'succeeded', 'failed', 'cancelled', 'skipped')
  ),
  cancel_reason text,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  finished_at timestamptz,
  UNIQUE (flow_id, name)
);

CREATE INDEX deps_executions_runnable ON deps_executions (id) WHERE state = 'runnable';

-- One group per downstream execution that has upstreams: its policy, counters and one-shot decision.
CREATE TABLE deps_edge_groups (
  downstream_id bigint PRIMARY KEY REFERENCES deps_executions (id),
  policy text NOT NULL CHECK (policy IN ('all_of', 'any_of', 'quorum', 'all_done')),
  quorum_k integer CHECK ((policy = 'quorum') = (quorum_k IS NOT NULL)),
  on_satisfied text NOT NULL CHECK (on_satisfied IN ('cancel_remaining', 'let_run')),
  total integer NOT NULL CHECK (total > 0),
  succeeded integer NOT NULL DEFAULT 0,
  not_succeeded integer NOT NULL DEFAULT 0,
  decision text NOT NULL DEFAULT 'pending' CHECK (decision IN ('pending', 'satisfied', 'impossible')),
  decided_at timestamptz,
  CHECK (succeeded + not_succeeded <= total)
);

-- applied_event_id is the marker that makes each edge count exactly once.
CREATE TABLE deps_edges (
  upstream_id bigint NOT NULL REFERENCES deps_executions (id),
  downstream_id bigint NOT NULL REFERENCES deps_edge_groups (downstream_id),
  applied_event_id bigint,
  applied_at timestamptz,
  PRIMARY KEY (upstream_id, downstream_id),
  CHECK (upstream_id <> downstream_id)
);

CREATE INDEX deps_edges_downstream ON deps_edges (downstream_id);

CREATE TABLE deps_completion_events (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  execution_id bigint NOT NULL REFERENCES deps_executions (id),
  flow_id bigint NOT NULL REFERENCES deps_flows (id),
  outcome text NOT NULL CHECK (outcome IN ('succeeded', 'failed', 'cancelled', 'skipped')),
  namespace text NOT NULL,
  instance_tag text NOT NULL,
  committed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  dispatched_at timestamptz,
  attempts integer NOT NULL DEFAULT 0,
  last_error text
);

CREATE INDEX deps_completion_events_pending ON deps_completion_events (id) WHERE dispatched_at IS NULL;

CREATE FUNCTION deps_notify_completion_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('deps_completion_events', NEW.id::text);
  RETURN NULL;
END
$$;

CREATE TRIGGER deps_completion_events_notify
  AFTER INSERT ON deps_completion_events
  FOR EACH ROW EXECUTE FUNCTION deps_notify_completion_event();
