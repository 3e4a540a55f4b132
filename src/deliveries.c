/*
 * deliveries.c — the outbox of succeeded runs' outputs.
 *
 * pa_deliveries_enqueue writes one pa.deliveries row per target of the
 * agent in the transaction that writes the run's outputs, so a delivery
 * exists exactly when the outputs do. The worker sends due deliveries
 * on its event loop (pa_deliveries_send): a webhook gets the outputs as
 * JSON with the run id as Idempotency-Key and, when the target has a
 * secret, an X-PA-Signature HMAC-SHA256 of the body; Slack gets a
 * readable message. Every attempt is recorded; a failure is retried
 * after procedural_agent.delivery_retry_base × 4^(attempt-1) (capped at
 * 60 × the base) until the target's max_attempts, then dead-lettered
 * (status "dead"); pa_redeliver() queues it again.
 */
#include "pg_prelude.h"

#include "catalog/pg_type.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "jsonb_jansson.h"
#include "mb/pg_wchar.h"
#include "procedural_agent.h"
#include "run.h"
#include "tools.h"
#include "worker.h"

/* Deliveries in flight at once, at most. */
#define MAX_SENDING 64

typedef struct Sending
{
	MemoryContext mcxt;
	int64		id;
	int			attempt;
	TimestampTz started_at;
	PaHttpRequest req;
	PaHttpResponse resp;
	PaHttpTransfer *xfer;
	bool		done;
	struct Sending *next;
} Sending;

static Sending *sending = NULL;
static int	n_sending = 0;

bool
pa_deliveries_wanted(RunContext *rc)
{
	/* no target: counted with the definition, which a new target invalidates */
	return json_integer_value(json_object_get(rc->def, "deliveries")) != 0 ||
		pa_definitions_generation() == 0;
}

void
pa_deliveries_enqueue(RunContext *rc, json_t *result)
{
	json_t	   *payload;
	bool		isnull;
	Datum		d;

	if (strcmp(json_string_value(json_object_get(result, "status")), "succeeded") != 0 ||
		!pa_deliveries_wanted(rc))
		return;
	payload = json_pack("{s:O, s:s, s:O, s:O, s:O, s:O}",
						"run_id", json_object_get(result, "run_id"),
						"agent", rc->agent_name,
						"version", json_object_get(result, "version"),
						"outputs", json_object_get(result, "outputs"),
						"usage", json_object_get(result, "usage"),
						"cost_usd", json_object_get(result, "cost_usd"));
	if (rc->conversation_id >= 0)
		json_object_set_new(payload, "conversation_id", json_integer(rc->conversation_id));
	d = pa_sql_value(pa_extension_owner(),
					 "WITH i AS (INSERT INTO pa.deliveries (run_id, target_id, kind, url, payload, max_attempts) "
					 "  SELECT $1, t.id, t.kind, t.url, $2, t.max_attempts FROM pa.agent_deliveries t "
					 "  WHERE t.agent_id = $3 RETURNING 1) SELECT count(*) FROM i",
					 3, (Oid[]) {INT8OID, JSONBOID, INT8OID},
					 (Datum[]) {Int64GetDatum(rc->run_id), JsonbPGetDatum(pa_json_to_jsonb(payload)),
						 Int64GetDatum(rc->agent_id)},
					 NULL, &isnull);
	json_decref(payload);
	/* a run of pa_invoke: the worker sends them once this commits */
	if (!isnull && DatumGetInt64(d) > 0)
		pa_wake_worker_at_commit();
}

/* At most max bytes of s, cut on a character boundary. */
static char *
clip(const char *s, int max)
{
	int			len = (int) strlen(s);

	if (len <= max)
		return pstrdup(s);
	return psprintf("%s…", pnstrdup(s, pg_mbcliplen(s, len, max)));
}

/* "*agent* (version 1) finished run 12 for conversation 34" and one line per output. */
static char *
slack_text(json_t *payload)
{
	StringInfoData s;
	const char *name;
	json_t	   *value;

	initStringInfo(&s);
	appendStringInfo(&s, "*%s* (version %lld) finished run %lld",
					 json_string_value(json_object_get(payload, "agent")),
					 (long long) json_integer_value(json_object_get(payload, "version")),
					 (long long) json_integer_value(json_object_get(payload, "run_id")));
	if (json_is_integer(json_object_get(payload, "conversation_id")))
		appendStringInfo(&s, " for conversation %lld",
						 (long long) json_integer_value(json_object_get(payload, "conversation_id")));
	json_object_foreach(json_object_get(payload, "outputs"), name, value)
	{
		char	   *text = pa_take_string(json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY));

		/* Slack shows about 3,000 characters of a section */
		appendStringInfo(&s, "\n• *%s*: `%s`", name, clip(text, 1500));
	}
	return s.data;
}

static void
on_sent(void *arg)
{
	((Sending *) arg)->done = true;
}

/* A claimed delivery's request, ready to go once the claim commits. */
static void
prepare_sending(json_t *row)
{
	MemoryContext mcxt = AllocSetContextCreate(TopMemoryContext, "procedural_agent delivery",
											   ALLOCSET_SMALL_SIZES);
	MemoryContext old = MemoryContextSwitchTo(mcxt);
	Sending    *s = palloc0(sizeof(Sending));
	json_t	   *payload = json_object_get(row, "payload");
	const char *kind = json_string_value(json_object_get(row, "kind"));
	json_t	   *secret = json_object_get(row, "secret");
	char	   *body;

	s->mcxt = mcxt;
	s->id = (int64) json_integer_value(json_object_get(row, "id"));
	s->attempt = (int) json_integer_value(json_object_get(row, "attempt"));
	/* linked first, so an error below still frees it */
	s->next = sending;
	sending = s;
	n_sending++;
	if (strcmp(kind, "slack") == 0)
	{
		json_t	   *msg = json_pack("{s:s}", "text", slack_text(payload));

		if (msg == NULL)
			elog(ERROR, "could not build the Slack message of delivery %lld", (long long) s->id);
		body = pa_take_json(msg);
		json_decref(msg);
	}
	else
		body = pa_take_string(json_dumps(payload, JSON_COMPACT | JSON_SORT_KEYS));
	s->req.url = pstrdup(json_string_value(json_object_get(row, "url")));
	s->req.body = body;
	s->req.connect_timeout_ms = 10000;
	s->req.timeout_ms = 30000;
	s->req.max_response_bytes = 65536;
	s->req.deny_private = !pa_http_tool_allow_private;
	s->req.headers = pa_http_header(NULL, "Content-Type", "application/json");
	if (strcmp(kind, "webhook") == 0)
	{
		char	   *run_id = psprintf("%lld", (long long) json_integer_value(json_object_get(payload, "run_id")));

		/* the same key on every attempt: the receiver can drop repeats */
		s->req.headers = pa_http_header(s->req.headers, "Idempotency-Key", run_id);
		s->req.headers = pa_http_header(s->req.headers, "X-PA-Run-Id", run_id);
		if (json_is_string(secret))
			s->req.headers = pa_http_header(s->req.headers, "X-PA-Signature",
											pa_hmac_signature(json_string_value(secret), body));
	}
	MemoryContextSwitchTo(old);
}

static void
unlink_sending(Sending **pp)
{
	Sending    *s = *pp;

	*pp = s->next;
	n_sending--;
	curl_slist_free_all(s->req.headers);
	MemoryContextDelete(s->mcxt);
}

/* One answer: recorded; delivered, to be retried, or dead. */
static void
record_answer(void *arg)
{
	Sending    *s = (Sending *) arg;
	bool		ok = s->resp.error == NULL && s->resp.status >= 200 && s->resp.status < 300;
	bool		isnull;
	char	   *error = NULL;
	char		nulls[9] = "        ";

	if (s->resp.error)
		error = s->resp.error;
	else if (!ok)
		error = psprintf("HTTP %ld: %s", s->resp.status, clip(s->resp.body.data, 200));
	nulls[4] = s->resp.status > 0 ? ' ' : 'n';
	nulls[5] = error ? ' ' : 'n';
	(void) pa_sql_value(pa_extension_owner(),
						"WITH a AS (INSERT INTO pa.delivery_attempts "
						"           SELECT $1, $2, $3, $4, $5, $6 WHERE EXISTS (SELECT 1 FROM pa.deliveries WHERE id = $1)) "
						"UPDATE pa.deliveries SET "
						"  status = CASE WHEN $7 THEN 'delivered' WHEN attempts >= max_attempts THEN 'dead' "
						"                ELSE 'pending' END, "
						"  delivered_at = CASE WHEN $7 THEN clock_timestamp() END, "
						"  last_http_status = $5, last_error = $6, "
						"  next_attempt_at = clock_timestamp() + make_interval(secs => "
						"      least($8 * 4 ^ (attempts - 1), $8 * 60.0)) "
						"WHERE id = $1",
						8, (Oid[]) {INT8OID, INT4OID, TIMESTAMPTZOID, FLOAT8OID, INT4OID, TEXTOID, BOOLOID, INT4OID},
						(Datum[]) {Int64GetDatum(s->id), Int32GetDatum(s->attempt),
							TimestampTzGetDatum(s->started_at), Float8GetDatum(s->resp.elapsed_ms),
							Int32GetDatum((int32) s->resp.status),
							error ? CStringGetTextDatum(error) : (Datum) 0, BoolGetDatum(ok),
							Int32GetDatum(pa_delivery_retry_base_s)},
						nulls, &isnull);
}

/*
 * The answers that came back, each in its own subtransaction (a delivery
 * deleted meanwhile, e.g. by retention, spoils only its own record).
 */
static void
record_answers(void)
{
	Sending   **pp = &sending;

	while (*pp)
	{
		ErrorData  *edata;

		if (!(*pp)->done)
		{
			pp = &(*pp)->next;
			continue;
		}
		edata = pa_try_subtransaction(record_answer, *pp);
		if (edata)
		{
			ereport(WARNING,
					(errmsg("procedural_agent delivery %lld: could not record its attempt: %s",
							(long long) (*pp)->id, edata->message)));
			FreeErrorData(edata);
		}
		unlink_sending(pp);
	}
}

/* Claim due deliveries; their requests go out after the claim commits. */
static void
claim_due(void)
{
	bool		isnull;
	Datum		d;
	json_t	   *rows;
	json_t	   *row;
	size_t		i;

	d = pa_sql_value(pa_extension_owner(),
					 "WITH c AS (SELECT id FROM pa.deliveries WHERE status = 'pending' "
					 "             AND next_attempt_at <= clock_timestamp() "
					 "           ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED), "
					 /* the new next_attempt_at is a lease: a crash mid-send retries later */
					 "u AS (UPDATE pa.deliveries d SET attempts = d.attempts + 1, "
					 "        next_attempt_at = clock_timestamp() + interval '2 minutes' "
					 "      FROM c WHERE d.id = c.id "
					 "      RETURNING d.id, d.attempts AS attempt, d.kind, d.url, d.payload, "
					 "        (SELECT s.hmac_secret FROM pa.delivery_secrets s WHERE s.target_id = d.target_id) AS secret) "
					 "SELECT jsonb_agg(to_jsonb(u)) FROM u",
					 1, (Oid[]) {INT4OID}, (Datum[]) {Int32GetDatum(MAX_SENDING - n_sending)},
					 NULL, &isnull);
	if (isnull)
		return;
	rows = pa_jsonb_to_json(DatumGetJsonbP(d));
	PG_TRY();
	{
		json_array_foreach(rows, i, row)
			prepare_sending(row);
	}
	PG_FINALLY();
	{
		json_decref(rows);
	}
	PG_END_TRY();
}

/*
 * Each turn of the worker's loop: record what came back; look for due
 * deliveries when runs finished since the last look, or every second.
 */
void
pa_deliveries_send(PaWorker *w)
{
	static int64 last_finished = -1;
	static TimestampTz last_look = 0;
	TimestampTz now = GetCurrentTimestamp();
	bool		answers = false;
	Sending    *s;
	Sending   **pp;

	for (s = sending; s; s = s->next)
		answers |= s->done;
	if (!answers && w->finished == last_finished && !w->woken &&
		!TimestampDifferenceExceeds(last_look, now, 1000))
		return;

	PG_TRY();
	{
		pa_worker_begin_xact();
		record_answers();
		if (n_sending < MAX_SENDING)
			claim_due();
		pa_worker_commit_xact();
	}
	PG_CATCH();
	{
		/*
		 * E.g. the extension was dropped meanwhile. Requests not sent yet
		 * are dropped with their rolled-back claims; answers not recorded
		 * are forgotten (their claim lapses in two minutes and they are
		 * sent again: the receiver has the idempotency key).
		 */
		pa_worker_recover();
		pp = &sending;
		while (*pp)
		{
			if ((*pp)->xfer == NULL || (*pp)->done)
				unlink_sending(pp);
			else
				pp = &(*pp)->next;
		}
	}
	PG_END_TRY();

	/* claimed and committed: on the wire */
	for (s = sending; s; s = s->next)
		if (s->xfer == NULL && !s->done)
		{
			MemoryContext old = MemoryContextSwitchTo(s->mcxt);

			s->started_at = GetCurrentTimestamp();
			s->xfer = pa_http_start(w->loop, &s->req, &s->resp, on_sent, s);
			MemoryContextSwitchTo(old);
		}
	last_finished = w->finished;
	last_look = now;
}
