-- Adopting an app's existing `jobs` table (OMVEE's own, written by its routers before the job
-- runner): add the columns the mirror writes that it lacks, and nothing else. Runs first, and
-- does nothing on a database without a `jobs` table (0001 creates the mirror's own) or on one
-- whose table is already the mirror's (mirror_job_status() exists: 0001 ran there).
--
-- Never dropped, renamed, retyped or rewritten: the app's columns, rows, constraints, indexes,
-- row-level security and grants. Added columns are nullable, or NOT NULL with a constant
-- default (PostgreSQL 11+ adds those without rewriting the table). 0001's table, indexes,
-- policies and grants are for a table the mirror owns, so an adopted table records 0001 as
-- done and is marked `adopted public.jobs` in the ledger; `migrate` then leaves its `type`
-- column's CHECK alone too. Whether the table can hold what the mirror writes (the app's
-- CHECKs, enums, NOT NULL columns without a default, the status words) is checked by the
-- operator at start through public.mirror_job_status_probe() (0003).
do $$
begin
    if to_regclass('public.jobs') is null
            or to_regprocedure('public.mirror_job_status(jsonb)') is not null then
        return;
    end if;
    alter table public.jobs
        add column if not exists project_id       uuid,
        add column if not exists type             text,
        add column if not exists status           text,
        add column if not exists progress         smallint not null default 0,
        add column if not exists progress_message text,
        add column if not exists reason           text,
        add column if not exists message          text,
        add column if not exists error            text,
        add column if not exists attempts         integer not null default 0,
        add column if not exists run              integer not null default 0,
        add column if not exists input            jsonb,
        add column if not exists result           jsonb,
        add column if not exists k8s_namespace    text,
        add column if not exists k8s_name         text,
        add column if not exists k8s_job_name     text,
        add column if not exists k8s_pod_name     text,
        add column if not exists k8s_node_name    text,
        add column if not exists revision         bigint not null default 0,
        add column if not exists created_at       timestamptz not null default now(),
        add column if not exists started_at       timestamptz,
        add column if not exists finished_at      timestamptz,
        add column if not exists updated_at       timestamptz not null default now();
    if exists (select from pg_roles where rolname = 'service_role') then
        grant select, insert, update on public.jobs to service_role;
    end if;
    if to_regclass('public.omvee_schema_migrations') is not null then
        insert into public.omvee_schema_migrations (version)
            values ('0001_jobs'), ('adopted public.jobs')
            on conflict (version) do nothing;
    end if;
end
$$;
