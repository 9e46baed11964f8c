-- 007_change_feed.sql: committed changes reach tp-notify through logical
-- decoding, and writers no longer send a notification.
--
-- 003's statement trigger sent pg_notify() from every writing transaction.
-- PostgreSQL serialises the commits of notifying transactions on one lock,
-- and that held 32 upserting clients to about 40% of what they managed
-- without it (bench/REPORT.md).  A writer now only writes: tp-notify reads
-- the changes from a logical replication slot (pgoutput, publication
-- trainprog_feed), renders each with the code GET uses, pushes it to the
-- live streams and tells the pools' read caches, from its own connection,
-- that something changed.  The slot keeps changes while tp-notify is down.
--
-- Needs wal_level = logical for the slot, which tp-notify creates on its
-- first start (CREATE_REPLICATION_SLOT needs the REPLICATION attribute,
-- which tp_notify has).  Without tp-notify a pool's cache still forgets a
-- document after read_cache_ttl, and its own writes take effect at once.

DROP TRIGGER training_progress_notify ON training_progress;
DROP TRIGGER training_progress_notify_truncate ON training_progress;
DROP FUNCTION training_progress_notify();

CREATE PUBLICATION trainprog_feed FOR TABLE training_progress;

-- tp_notify reads the feed and the rows it re-reads after a restart of
-- nginx; it sends the cache's notifications on trainprog_progress.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tp_notify') THEN
        CREATE ROLE tp_notify LOGIN REPLICATION;
        ALTER ROLE tp_notify SET default_transaction_read_only = on;
    END IF;
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO tp_notify', current_database());
END
$$;

GRANT USAGE ON SCHEMA public TO tp_notify;
GRANT SELECT ON training_progress TO tp_notify;
