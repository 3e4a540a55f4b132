/*
 * tools.c — tool dispatch, and SQL tools.
 *
 * An HTTP tool POSTs the arguments as JSON to the tool's fixed URL, with
 * its headers and secret headers (never shown to the model) and, when it
 * has an HMAC secret, an X-PA-Signature header receivers can verify.
 *
 * A SQL tool call runs as the agent version's owner (never with more
 * rights), in its own subtransaction (an error rolls back only the tool and
 * goes back to the model), under a timeout, with a cap on rows and bytes.
 * The model's arguments reach SQL only as one jsonb parameter: the query
 * text is built from catalog names alone.
 */
#include "pg_prelude.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/lsyscache.h"
#include "utils/resowner.h"
#include "utils/syscache.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"
#include "common/hmac.h"

#include "http.h"
#include "jsonb_jansson.h"
#include "procedural_agent.h"
#include "tools.h"

static Oid
function_owner(Oid fn)
{
	HeapTuple	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for function %u", fn);
	owner = ((Form_pg_proc) GETSTRUCT(tup))->proowner;
	ReleaseSysCache(tup);
	return owner;
}

/* "name => <expression reading the argument from $1>" for one argument. */
static void
append_argument(StringInfo sql, const char *name, Oid type)
{
	const char *q = quote_identifier(name);
	Oid			elem = get_element_type(type);

	appendStringInfo(sql, "%s => ", q);
	if (type == JSONBOID)
		appendStringInfo(sql, "($1->%s)", quote_literal_cstr(name));
	else if (type == JSONOID)
		appendStringInfo(sql, "($1->%s)::json", quote_literal_cstr(name));
	else if (OidIsValid(elem))
		appendStringInfo(sql, "CASE WHEN jsonb_typeof($1->%s) = 'array' THEN ARRAY(SELECT jsonb_array_elements_text($1->%s))::%s END",
						 quote_literal_cstr(name), quote_literal_cstr(name),
						 format_type_be_qualified(type));
	else
		appendStringInfo(sql, "($1->>%s)::%s", quote_literal_cstr(name),
						 format_type_be_qualified(type));
}

/* The query calling the tool's function with the arguments present. */
static char *
tool_query(Oid fn, json_t *arguments)
{
	HeapTuple	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn));
	Form_pg_proc proc;
	StringInfoData call;
	StringInfoData sql;
	Oid		   *types;
	char	  **names;
	char	   *modes;
	int			nargs;
	int			i;
	bool		first = true;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for function %u", fn);
	proc = (Form_pg_proc) GETSTRUCT(tup);
	nargs = get_func_arg_info(tup, &types, &names, &modes);

	initStringInfo(&call);
	appendStringInfo(&call, "%s.%s(",
					 quote_identifier(get_namespace_name(proc->pronamespace)),
					 quote_identifier(NameStr(proc->proname)));
	/* Input arguments by name; OUT arguments are not passed. */
	for (i = 0; i < nargs; i++)
	{
		if (names == NULL || names[i] == NULL ||
			(modes && modes[i] != PROARGMODE_IN && modes[i] != PROARGMODE_INOUT))
			continue;
		if (json_object_get(arguments, names[i]) == NULL)
			continue;			/* absent: the function's default applies */
		if (!first)
			appendStringInfoString(&call, ", ");
		append_argument(&call, names[i], types[i]);
		first = false;
	}
	appendStringInfoChar(&call, ')');

	initStringInfo(&sql);
	if (proc->proretset)
		appendStringInfo(&sql,
						 "SELECT jsonb_build_object('rows', coalesce(jsonb_agg(to_jsonb(s.r)), '[]'), 'truncated', count(*) > %d) "
						 "FROM (SELECT %s AS r LIMIT %d) s",
						 pa_tool_max_rows, call.data, pa_tool_max_rows + 1);
	else
		appendStringInfo(&sql, "SELECT to_jsonb(%s)", call.data);
	ReleaseSysCache(tup);
	return sql.data;
}

static char *
run_sql_tool(Oid owner, json_t *tool, json_t *arguments, long timeout_ms, bool *is_error)
{
	const char *signature = json_string_value(json_object_get(tool, "signature"));
	MemoryContext caller = CurrentMemoryContext;
	ResourceOwner owner_before = CurrentResourceOwner;
	TimestampTz outer = 0;
	TimestampTz mine;
	volatile bool armed = false;
	char	   *result = NULL;
	Oid			fn;

	*is_error = false;
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(caller);

	mine = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeout_ms);
	if (get_timeout_active(STATEMENT_TIMEOUT))
		outer = get_timeout_finish_time(STATEMENT_TIMEOUT);
	PG_TRY();
	{
		PaRoleSwitch save;
		Jsonb	   *args = pa_json_to_jsonb(arguments);
		Oid			argtypes[1] = {JSONBOID};
		Datum		values[1];
		Datum		d;
		bool		isnull;

		/* Resolve by signature as the owner: a dropped function is a clear error. */
		d = pa_sql_value(owner, "SELECT to_regprocedure($1)::oid", 1, (Oid[]) {TEXTOID},
						 (Datum[]) {CStringGetTextDatum(signature)}, NULL, &isnull);
		if (isnull)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_FUNCTION),
					 errmsg("function %s behind tool \"%s\" does not exist", signature,
							json_string_value(json_object_get(tool, "name")))));
		fn = DatumGetObjectId(d);
		/* dropped and re-created by someone else: not the function the tool was made for */
		if (json_is_integer(json_object_get(tool, "function_owner")) &&
			function_owner(fn) != (Oid) json_integer_value(json_object_get(tool, "function_owner")))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("function %s behind tool \"%s\" now belongs to another role", signature,
							json_string_value(json_object_get(tool, "name"))),
					 errhint("Re-create the tool if the new function is the intended one.")));

		if (outer == 0 || mine < outer)
		{
			enable_timeout_at(STATEMENT_TIMEOUT, mine);
			armed = true;
		}
		values[0] = JsonbPGetDatum(args);
		pa_become_role(owner, true, &save);
		d = pa_sql_value_user_path(owner, tool_query(fn, arguments), 1, argtypes, values, NULL, &isnull);
		pa_restore_role(&save);
		result = isnull ? pstrdup("null") :
			JsonbToCString(NULL, &DatumGetJsonbP(d)->root, VARSIZE(DatumGetPointer(d)));

		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(caller);
		CurrentResourceOwner = owner_before;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(caller);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(caller);
		CurrentResourceOwner = owner_before;

		/* A cancel that is not our own timeout belongs to the caller. */
		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED &&
			!(armed && GetCurrentTimestamp() >= mine))
			ReThrowError(edata);
		*is_error = true;
		result = psprintf("ERROR %s: %s%s%s",
						  unpack_sql_state(edata->sqlerrcode),
						  edata->sqlerrcode == ERRCODE_QUERY_CANCELED ?
						  "the tool timed out" : edata->message,
						  edata->detail ? " — " : "", edata->detail ? edata->detail : "");
		FreeErrorData(edata);
	}
	PG_END_TRY();

	/* Give the caller's statement its own deadline back. */
	if (armed)
	{
		if (outer != 0)
			enable_timeout_at(STATEMENT_TIMEOUT, outer);
		else
			disable_timeout(STATEMENT_TIMEOUT, false);
	}
	return result;
}

/* Tool results handed to the model stay under tool_max_result_bytes. */
static char *
truncate_result(char *result)
{
	if (strlen(result) > (size_t) pa_tool_max_result_bytes)
	{
		int			cut = pg_mbcliplen(result, strlen(result), pa_tool_max_result_bytes);

		result = psprintf("%.*s… [result truncated at %d bytes]", cut, result, pa_tool_max_result_bytes);
	}
	return result;
}

/* "sha256=<hex of HMAC-SHA256(secret, body)>" */
char *
pa_hmac_signature(const char *secret, const char *body)
{
	pg_hmac_ctx *ctx = pg_hmac_create(PG_SHA256);
	uint8		mac[32];
	char	   *out = palloc(7 + 64 + 1);
	int			i;

	if (ctx == NULL ||
		pg_hmac_init(ctx, (const uint8 *) secret, strlen(secret)) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) body, strlen(body)) < 0 ||
		pg_hmac_final(ctx, mac, sizeof(mac)) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute an HMAC signature: %s", pg_hmac_error(ctx))));
	pg_hmac_free(ctx);
	strcpy(out, "sha256=");
	for (i = 0; i < 32; i++)
		sprintf(out + 7 + i * 2, "%02x", mac[i]);
	return out;
}

/*
 * The request of an HTTP tool call: its fixed URL, the arguments as the
 * JSON body, its headers and secret headers, the HMAC signature, and an
 * idempotency key when given (the worker sends one, so a call repeated
 * after a crash is recognised by the receiver). Free req->headers after.
 */
void
pa_http_tool_request(json_t *tool, json_t *arguments, long timeout_ms,
					 const char *idempotency_key, PaHttpRequest *req)
{
	char	   *body = pa_take_json(arguments);
	const char *name;
	json_t	   *value;
	json_t	   *secret = json_object_get(tool, "secret");

	memset(req, 0, sizeof(*req));
	req->url = json_string_value(json_object_get(tool, "url"));
	req->body = body;
	req->headers = pa_http_header(NULL, "Content-Type", "application/json");
	PG_TRY();
	{
		json_object_foreach(json_object_get(tool, "headers"), name, value)
			req->headers = pa_http_header(req->headers, name, json_string_value(value));
		json_object_foreach(json_object_get(secret, "headers"), name, value)
			req->headers = pa_http_header(req->headers, name, json_string_value(value));
		if (json_is_string(json_object_get(secret, "hmac_secret")))
			req->headers = pa_http_header(req->headers, "X-PA-Signature",
										  pa_hmac_signature(json_string_value(json_object_get(secret, "hmac_secret")), body));
		if (idempotency_key)
			req->headers = pa_http_header(req->headers, "Idempotency-Key", idempotency_key);
	}
	PG_CATCH();
	{
		curl_slist_free_all(req->headers);
		req->headers = NULL;
		PG_RE_THROW();
	}
	PG_END_TRY();
	req->connect_timeout_ms = Min(timeout_ms, 10000);
	req->timeout_ms = timeout_ms;
	req->max_response_bytes = (size_t) pa_tool_max_result_bytes * 4;
	req->deny_private = !pa_http_tool_allow_private;
}

/* What the model sees of an HTTP tool's answer. */
char *
pa_http_tool_result(PaHttpResponse *resp, bool *is_error)
{
	if (resp->error)
	{
		*is_error = true;
		return truncate_result(psprintf("the request failed: %s", resp->error));
	}
	*is_error = resp->status < 200 || resp->status >= 300;
	return truncate_result(psprintf("HTTP %ld%s%s", resp->status, resp->body.len ? "\n" : "",
									resp->body.data));
}

static char *
run_http_tool(json_t *tool, json_t *arguments, long timeout_ms, bool *is_error)
{
	PaHttpRequest req;
	PaHttpResponse resp;

	pa_http_tool_request(tool, arguments, timeout_ms, NULL, &req);
	PG_TRY();
	{
		pa_http_post(&req, &resp);
	}
	PG_FINALLY();
	{
		curl_slist_free_all(req.headers);
	}
	PG_END_TRY();
	return pa_http_tool_result(&resp, is_error);
}

char *
pa_run_tool(Oid owner, json_t *tool, json_t *arguments, long deadline_ms, bool *is_error)
{
	long		timeout_ms = Min((long) json_number_value(json_object_get(tool, "timeout_ms")),
								 deadline_ms);

	const char *kind = json_string_value(json_object_get(tool, "kind"));

	char	   *result;

	if (timeout_ms <= 0)
	{
		*is_error = true;
		return pstrdup("Not run: the run's deadline has passed.");
	}
	if (strcmp(kind, "http") == 0)
		return run_http_tool(tool, arguments, timeout_ms, is_error);	/* truncated already */
	if (strcmp(kind, "sql") != 0)
		elog(ERROR, "unexpected tool kind \"%s\"", kind);
	result = run_sql_tool(owner, tool, arguments, timeout_ms, is_error);
	return truncate_result(result);
}
