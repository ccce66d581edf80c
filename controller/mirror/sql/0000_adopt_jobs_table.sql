-- Adopting an app's existing `jobs` table (OMVEE's own, written by its routers before the job
-- runner): add the columns the mirror writes that it lacks, and nothing else. Runs first, and
-- does nothing on a database without a `jobs` table (0001 creates the mirror's own) or whose
-- table already has every column the mirror writes (the mirror's own, or one adopted before).
-- An app's table that an older `migrate` took through 0001 without adopting it (0001's
-- `create table if not exists` created nothing there) is adopted now, its columns added.
--
-- Never dropped, renamed, retyped or rewritten: the app's columns, rows, constraints, indexes,
-- row-level security and grants. Added columns are nullable, or NOT NULL with a constant
-- default (PostgreSQL 11+ adds those without rewriting the table). created_at and updated_at,
-- when the app's table lacks them, default to now() for new rows only. 0001's table, indexes,
-- policies and grants are for a table the mirror owns, so an adopted table records 0001 as
-- done and is marked `adopted public.jobs` in the ledger; `migrate` then leaves its `type`
-- column's CHECK alone too. Whether the table can hold what the mirror writes (the app's
-- CHECKs, enums, NOT NULL columns without a default, the status words) is checked by the
-- operator at start through public.mirror_job_status_probe() (0003).
do $$
declare
    had_created_at boolean;
    had_updated_at boolean;
begin
    if to_regclass('public.jobs') is null then
        return;
    end if;
    -- the mirror's own table has them all (0001); an app's lacks some
    if (select count(*) from information_schema.columns
            where table_schema = 'public' and table_name = 'jobs'
            and column_name in ('revision', 'run', 'attempts', 'k8s_namespace', 'k8s_name',
                                'progress_message', 'reason', 'result', 'finished_at')) = 9 then
        return;
    end if;
    select count(*) = 1 into had_created_at from information_schema.columns
        where table_schema = 'public' and table_name = 'jobs' and column_name = 'created_at';
    select count(*) = 1 into had_updated_at from information_schema.columns
        where table_schema = 'public' and table_name = 'jobs' and column_name = 'updated_at';
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
        add column if not exists created_at       timestamptz,
        add column if not exists started_at       timestamptz,
        add column if not exists finished_at      timestamptz,
        add column if not exists updated_at       timestamptz;
    -- the rows already there keep no time (not the migration's: `omvee stuck-rows` would take
    -- them for fresh); rows written from now on get one
    if not had_created_at then
        alter table public.jobs alter column created_at set default now();
    end if;
    if not had_updated_at then
        alter table public.jobs alter column updated_at set default now();
    end if;
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
