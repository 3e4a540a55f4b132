/*
 * pg_prelude.h — the server headers every server-side file needs, in the
 * right order, with the jansson clash hidden (see pa_json.h).
 */
#ifndef PA_PG_PRELUDE_H
#define PA_PG_PRELUDE_H

#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"

/* utils/builtins.h declares the server's json_object(); rename it away. */
#define json_object pg_fmgr_json_object
#include "utils/builtins.h"
#undef json_object

#include "utils/jsonb.h"

#endif							/* PA_PG_PRELUDE_H */
