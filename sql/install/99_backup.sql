
------------------------------------------------------------------------
-- pg_dump: tables of an extension are not dumped unless marked. Every
-- table here holds user data (definitions, conversations, the ledger), so
-- all of them, and their identity sequences, are dumped and restored.
------------------------------------------------------------------------

-- One call per statement: each call updates the pg_extension row again.
DO $$
DECLARE
    rel regclass;
BEGIN
    FOR rel IN SELECT c.oid FROM pg_catalog.pg_class c
                WHERE c.relnamespace = 'pa'::regnamespace AND c.relkind IN ('r', 'S') ORDER BY c.oid LOOP
        PERFORM pg_catalog.pg_extension_config_dump(rel, '');
    END LOOP;
END $$;
