-- OMVEE jobs: the mirror of every OmveeJob's status, written only by the operator through
-- public.mirror_job_status(). Idempotent: safe to apply again.

create table if not exists public.jobs (
    id               uuid primary key,
    project_id       uuid not null,
    type             text not null check (type in ('transcription', 'scene-generation',
                         'visual-prompts', 'image-generation', 'video-generation')),
    status           text not null default 'queued'
                         check (status in ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    progress         smallint not null default 0 check (progress between 0 and 100),
    progress_message text,
    reason           text,          -- CamelCase, e.g. BackoffLimitExceeded, PendingTimeout
    message          text,          -- what a person should read, the OmveeJob's status.message
    error            text,          -- the message again when the job failed, else null
    attempts         integer not null default 0,
    run              integer not null default 0,   -- retries of the whole job (spec.rerun)
    input            jsonb,         -- what the job was submitted with (for resubmission)
    result           jsonb,
    k8s_namespace    text,
    k8s_name         text,          -- the OmveeJob
    k8s_job_name     text,          -- the batch/v1 Job of the current run
    k8s_pod_name     text,
    k8s_node_name    text,
    revision         bigint not null default 0,    -- the OmveeJob resourceVersion last mirrored
    created_at       timestamptz not null default now(),
    started_at       timestamptz,
    finished_at      timestamptz,
    updated_at       timestamptz not null default now()
);

-- The app lists a project's jobs newest first, and watches unfinished ones.
create index if not exists jobs_project_created_idx on public.jobs (project_id, created_at desc);
create index if not exists jobs_unfinished_idx on public.jobs (status, updated_at)
    where status in ('queued', 'running');

-- Row-level security: a signed-in user reads the jobs of the projects listed in their JWT's
-- app_metadata.project_ids (app_metadata is set by the server, never by the user). Nobody but
-- the operator (service role or the table owner) writes.
alter table public.jobs enable row level security;
drop policy if exists jobs_read_own_projects on public.jobs;
create policy jobs_read_own_projects on public.jobs for select to authenticated
    using (project_id::text in (
        select jsonb_array_elements_text(coalesce(auth.jwt() -> 'app_metadata' -> 'project_ids',
                                                  '[]'::jsonb))));
grant select on public.jobs to authenticated;
grant select, insert, update on public.jobs to service_role;
revoke insert, update, delete on public.jobs from authenticated, anon;

-- The one way status gets written. `job` carries the row's columns plus `revision`; the call
-- returns what happened: inserted, updated, stale (an older revision: ignored) or final (a
-- finished run does not go back to queued/running).
create or replace function public.mirror_job_status(job jsonb) returns text
language plpgsql
set search_path = public, pg_temp
as $$
declare
    current public.jobs%rowtype;
    new_status text := job ->> 'status';
    new_run integer := coalesce((job ->> 'run')::integer, 0);
    new_revision bigint := (job ->> 'revision')::bigint;
    new_progress smallint := coalesce((job ->> 'progress')::smallint, 0);
begin
    if new_revision is null then
        raise exception 'mirror_job_status: revision is required';
    end if;
    select * into current from public.jobs where id = (job ->> 'id')::uuid for update;
    if not found then
        insert into public.jobs as j (id, project_id, type, status, progress, progress_message,
            reason, message, error, attempts, run, input, result, k8s_namespace, k8s_name,
            k8s_job_name, k8s_pod_name, k8s_node_name, revision, started_at, finished_at)
        values ((job ->> 'id')::uuid, (job ->> 'project_id')::uuid, job ->> 'type', new_status,
            new_progress, job ->> 'progress_message', job ->> 'reason', job ->> 'message',
            job ->> 'error', coalesce((job ->> 'attempts')::integer, 0), new_run,
            job -> 'input', job -> 'result', job ->> 'k8s_namespace', job ->> 'k8s_name',
            job ->> 'k8s_job_name', job ->> 'k8s_pod_name', job ->> 'k8s_node_name',
            new_revision, (job ->> 'started_at')::timestamptz, (job ->> 'finished_at')::timestamptz)
        on conflict (id) do nothing;
        if found then
            return 'inserted';
        end if;
        -- a concurrent writer inserted it first: decide against its row
        select * into current from public.jobs where id = (job ->> 'id')::uuid for update;
    end if;
    -- A job id belongs to one OmveeJob's project and namespace: another OmveeJob that carries
    -- the same id (a copy in another namespace, another project's manifest) must not take over
    -- the row. Refused as a data error: the operator sets the row aside and says so.
    -- A row with no namespace yet (left by the old BackgroundTasks, then resubmitted through
    -- `stuck_rows --resubmit`) is taken by the first OmveeJob of its project.
    if current.project_id <> (job ->> 'project_id')::uuid
            or current.k8s_namespace <> (job ->> 'k8s_namespace') then
        raise exception 'job % belongs to project % in namespace %; refused a write from '
            'OmveeJob %/% of project %', current.id, current.project_id,
            current.k8s_namespace, job ->> 'k8s_namespace', job ->> 'k8s_name',
            job ->> 'project_id'
            using errcode = 'check_violation';
    end if;
    if new_revision <= current.revision or new_run < current.run then
        return 'stale';
    end if;
    if new_run = current.run and current.status in ('succeeded', 'failed', 'cancelled')
            and new_status <> current.status then
        return 'final';
    end if;
    update public.jobs set
        status = new_status,
        -- within a run progress only rises; a new run starts again from its own value
        progress = case when new_run = current.run then greatest(current.progress, new_progress)
                        else new_progress end,
        progress_message = job ->> 'progress_message',
        reason = job ->> 'reason',
        message = job ->> 'message',
        error = job ->> 'error',
        attempts = coalesce((job ->> 'attempts')::integer, current.attempts),
        run = new_run,
        input = coalesce(job -> 'input', current.input),
        result = job -> 'result',
        k8s_namespace = job ->> 'k8s_namespace',
        k8s_name = job ->> 'k8s_name',
        k8s_job_name = job ->> 'k8s_job_name',
        k8s_pod_name = job ->> 'k8s_pod_name',
        k8s_node_name = job ->> 'k8s_node_name',
        revision = new_revision,
        started_at = (job ->> 'started_at')::timestamptz,
        finished_at = (job ->> 'finished_at')::timestamptz,
        updated_at = now()
    where id = current.id;
    return 'updated';
end;
$$;

revoke execute on function public.mirror_job_status(jsonb) from public, anon, authenticated;
grant execute on function public.mirror_job_status(jsonb) to service_role;
