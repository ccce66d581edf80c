-- Status words: the table may hold an app's own words for our statuses (an adopted `jobs`
-- table, OMVEE_MIRROR_STATUS_WORDS). Writers send the row's status already in the table's
-- words, and `final_statuses`, the words of a finished run, which replace the fixed list in
-- the finality rule (a finished run never goes back to queued/running). Without
-- `final_statuses` (an older writer) the rule reads the mirror's own words, as before.
-- Replaces public.mirror_job_status() (0002's, unchanged but for that rule) and adds
-- public.mirror_job_status_probe(), which the operator calls at start. Idempotent.

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
    -- the words of a finished run in the table (an adopted table's own, e.g. completed);
    -- a writer that sends none uses the mirror's own words
    final_statuses text[] := coalesce(
        (select array_agg(w) from jsonb_array_elements_text(job -> 'final_statuses') as w),
        array['succeeded', 'failed', 'cancelled']);
begin
    if new_revision is null then
        raise exception 'mirror_job_status: revision is required';
    end if;
    select * into current from public.jobs where id = (job ->> 'id')::uuid for update;
    if not found then
        insert into public.jobs as j (id, project_id, type, status, progress, progress_message,
            reason, message, error, attempts, run, input, result, k8s_namespace, k8s_name,
            k8s_job_name, k8s_pod_name, k8s_node_name, revision, started_at, finished_at,
            pipeline_id, created_at, updated_at)
        values ((job ->> 'id')::uuid, (job ->> 'project_id')::uuid, job ->> 'type', new_status,
            new_progress, job ->> 'progress_message', job ->> 'reason', job ->> 'message',
            job ->> 'error', coalesce((job ->> 'attempts')::integer, 0), new_run,
            job -> 'input', job -> 'result', job ->> 'k8s_namespace', job ->> 'k8s_name',
            job ->> 'k8s_job_name', job ->> 'k8s_pod_name', job ->> 'k8s_node_name',
            new_revision, (job ->> 'started_at')::timestamptz, (job ->> 'finished_at')::timestamptz,
            (job ->> 'pipeline_id')::uuid,
            -- set, not left to defaults: an adopted table's own columns may have none
            now(), now())
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
    if new_run = current.run and current.status = any(final_statuses)
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
        -- fixed at creation (spec.pipelineId is immutable); a writer that does not send it
        -- (an older operator) leaves it as it is
        pipeline_id = coalesce((job ->> 'pipeline_id')::uuid, current.pipeline_id),
        updated_at = now()
    where id = current.id;
    return 'updated';
end;
$$;

revoke execute on function public.mirror_job_status(jsonb) from public, anon, authenticated;
grant execute on function public.mirror_job_status(jsonb) to service_role;


-- The operator's check at start: can the table hold what the mirror writes? `sequences` is a
-- JSON array of {"name": text, "rows": [row, ...], "expect": [outcome, ...]}: each sequence's
-- rows go through mirror_job_status() in order, in a subtransaction that is always rolled
-- back, so nothing stays (an app's triggers do run, and are rolled back with it). The rows'
-- projects are random; a sequence an app's foreign key on project_id refuses is tried again
-- as a project the table holds, when it holds one. Returns a
-- JSON array of {"name", "error", "sqlstate"} ("project_key": true for a foreign key on
-- project_id, with no project to write as), one per sequence that raised (a CHECK, an enum,
-- a NOT NULL column without a default, a missing column or privilege...) or returned other
-- outcomes than `expect`; [] when every sequence went through. Runs with the caller's rights.
create or replace function public.mirror_job_status_probe(sequences jsonb) returns jsonb
language plpgsql
set search_path = public, pg_temp
as $$
declare
    seq jsonb;
    item jsonb;
    step integer;
    outcome text;
    problems jsonb := '[]'::jsonb;
    existing_project text;
    refused_by text;
    on_project boolean;
begin
    -- a project the table already holds, to write as when an app's foreign key on project_id
    -- refuses the probe's random one (real rows carry real projects)
    select project_id::text into existing_project from public.jobs
        where project_id is not null limit 1;
    for seq in select value from jsonb_array_elements(sequences) loop
        for attempt in 1..2 loop
            begin
                step := 0;
                for item in select value from jsonb_array_elements(seq -> 'rows') loop
                    if attempt = 2 then
                        item := jsonb_set(item, '{project_id}', to_jsonb(existing_project));
                    end if;
                    outcome := public.mirror_job_status(item);
                    if outcome is distinct from (seq -> 'expect' ->> step) then
                        raise exception 'write % of % returned %, expected %', step + 1,
                            jsonb_array_length(seq -> 'rows'), outcome,
                            seq -> 'expect' ->> step
                            using errcode = 'OMV01';
                    end if;
                    step := step + 1;
                end loop;
                raise exception 'probe done: rolled back' using errcode = 'OMV00';
            exception
                when sqlstate 'OMV00' then
                    exit;
                when foreign_key_violation then
                    get stacked diagnostics refused_by = constraint_name;
                    select exists (
                        select from pg_constraint c
                        join pg_attribute a on a.attrelid = c.conrelid and a.attnum = any(c.conkey)
                        where c.conrelid = 'public.jobs'::regclass and c.conname = refused_by
                            and a.attname = 'project_id') into on_project;
                    if on_project and attempt = 1 and existing_project is not null then
                        continue;  -- again, as a project the table holds
                    end if;
                    problems := problems || jsonb_build_array(jsonb_build_object(
                        'name', seq ->> 'name', 'error', sqlerrm, 'sqlstate', sqlstate,
                        'project_key', on_project));
                    exit;
                when others then
                    problems := problems || jsonb_build_array(jsonb_build_object(
                        'name', seq ->> 'name', 'error', sqlerrm, 'sqlstate', sqlstate));
                    exit;
            end;
        end loop;
    end loop;
    return problems;
end;
$$;

revoke execute on function public.mirror_job_status_probe(jsonb) from public, anon, authenticated;
grant execute on function public.mirror_job_status_probe(jsonb) to service_role;
