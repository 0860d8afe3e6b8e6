-- Groups: the desired state. `spec` is the group's encoded config; `deleted_at` scales it to zero.
CREATE TABLE im_groups (
  tenant text NOT NULL,
  key text NOT NULL,
  desired_size integer NOT NULL CHECK (desired_size >= 0),
  spec jsonb NOT NULL,
  template_hash text NOT NULL,
  deleted_at timestamptz,
  updated_at timestamptz NOT NULL,
  PRIMARY KEY (tenant, key)
);

-- Instances: what the manager created and what it knows of them. A `pending` row without a
-- provider id is a create in flight: it counts against the surge cap before the provider answers.
CREATE TABLE im_instances (
  id text PRIMARY KEY,
  tenant text NOT NULL,
  group_key text NOT NULL,
  provider_id text UNIQUE,
  state text NOT NULL CHECK (state IN ('pending', 'running', 'draining', 'deleting', 'deleted')),
  template_hash text NOT NULL,
  created_at timestamptz NOT NULL,
  created_term integer NOT NULL,
  last_health_at timestamptz,
  disconnected_at timestamptz,
  unhealthy_at timestamptz,
  unhealthy_reason text,
  termination_notice_at timestamptz,
  drain_started_at timestamptz,
  drain_reason text,
  drain_acked_at timestamptz,
  delete_at timestamptz,
  replacement_id text,
  deleted_at timestamptz,
  FOREIGN KEY (tenant, group_key) REFERENCES im_groups (tenant, key)
);
CREATE INDEX im_instances_group ON im_instances (tenant, group_key) WHERE state <> 'deleted';

-- Events: the durable queue of work per group. Finished events keep their outcome.
CREATE TABLE im_events (
  id bigserial PRIMARY KEY,
  type text NOT NULL CHECK (type IN ('InitialReconcile', 'GroupChanged', 'CheckInstance', 'InstanceDeleted', 'DrainAcked', 'TerminationNotice')),
  tenant text NOT NULL,
  group_key text NOT NULL,
  instance_id text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL,
  cause text NOT NULL DEFAULT '',
  attempt integer NOT NULL DEFAULT 0,
  prevent_duplicate boolean NOT NULL DEFAULT false,
  term integer NOT NULL,
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed', 'discarded', 'skipped')),
  due_at timestamptz NOT NULL,
  finished_at timestamptz,
  last_error text
);
CREATE INDEX im_events_pending ON im_events (tenant, group_key, due_at) WHERE status = 'pending';

-- The last success of each (type, group, instance), for `preventDuplicate`.
CREATE TABLE im_event_successes (
  type text NOT NULL,
  tenant text NOT NULL,
  group_key text NOT NULL,
  instance_id text NOT NULL,
  succeeded_at timestamptz NOT NULL,
  PRIMARY KEY (type, tenant, group_key, instance_id)
);
