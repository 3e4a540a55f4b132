/*
 * context.c — what a run reads of its conversation: the conversation, its
 * customer and the customer's memory, and its events in order, as the
 * reader (the agent's owner, or pa_invoke's caller) may see them.
 *
 * One statement however many conversations: the worker loads the
 * contexts of all the runs a step starts together (pa_run_load_contexts).
 * The head (conversation, customer, memory) is built once per
 * conversation (OFFSET 0 keeps it from being computed per event); events
 * come as plain columns taken into PaEvents (transcript.h) here, with no
 * JSONB or JSON object built per event, and are put in order here (no sort
 * node).
 */
#include "pg_prelude.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"

#include "mb/pg_wchar.h"
#include "pgtime.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"

#include "jsonb_jansson.h"
#include "procedural_agent.h"
#include "run.h"

/*
 * The head's columns (conversation, customer, memory) come first in every
 * row, the event's after them. The head is built here from the first row
 * of its conversation (no to_jsonb/jsonb_build_object made and parsed
 * again), with what to_jsonb(conversation) would hold but the bookkeeping
 * columns (last_event_seq, created_at, updated_at).
 */
#define CONTEXT_SQL \
	"SELECT h.*, e.id, e.seq, e.occurred_at, e.kind, e.role, e.content, e.name, " \
	"       e.tool_call_id, e.payload " \
	"FROM (SELECT c.id, c.external_id, c.customer_id, c.channel, c.metadata, c.status, c.outcome, " \
	"             c.started_at, c.ended_at, cu.id AS cu_id, cu.external_id AS cu_external_id, " \
	"             cu.name AS cu_name, cu.context AS cu_context, " \
	"             CASE WHEN c.customer_id IS NOT NULL THEN" \
	"               (SELECT jsonb_object_agg(m.key, m.value) FROM pa.customer_memory m" \
	"                 WHERE m.customer_id = c.customer_id) END AS memory" \
	"      FROM pa.conversations c LEFT JOIN pa.customers cu ON cu.id = c.customer_id" \
	"      WHERE %s OFFSET 0) h " \
	"LEFT JOIN pa.events e ON e.conversation_id = h.id"

/* The head's columns: the conversation's (keys as named), then the customer's, then memory. */
static const char *const conversation_columns[] = {"id", "external_id", "customer_id", "channel",
"metadata", "status", "outcome", "started_at", "ended_at"};
static const char *const customer_columns[] = {"external_id", "name", "context"};

#define N_CONVERSATION 9
#define N_HEAD (N_CONVERSATION + 1 + 3 + 1)	/* and cu_id, the customer's, memory */

/* Where the rows of one statement go: one entry per conversation. */
typedef struct LoadState
{
	PaLoadedContext *v;
	int			n;
	int			cap;
	int			last;			/* the entry of the previous row */
} LoadState;

/* Text from the database as UTF-8, copied into the current memory context. */
static void
field_text(PaField *f, const char *s, int len)
{
	char	   *utf8 = GetDatabaseEncoding() == PG_UTF8 ? (char *) s : pg_server_to_any(s, len, PG_UTF8);

	if (utf8 != s)
		len = (int) strlen(utf8);
	/*
	 * A UTF8 database's text is valid UTF-8; pg_server_to_any checks a
	 * SQL_ASCII database's (22021), which it cannot convert.
	 */
	f->type = PA_FIELD_TEXT;
	f->text = utf8 != s ? utf8 : pnstrdup(s, len);
	f->len = (size_t) len;
}

/*
 * The session time zone's offset over a stretch of time: from a time a
 * lookup was made for to the zone's next transition (pg_next_dst_boundary),
 * so the events of a conversation, mostly in one stretch, need one lookup.
 */
typedef struct ZoneStretch
{
	pg_tz	   *tz;				/* NULL: nothing looked up yet */
	pg_time_t	from;
	pg_time_t	until;			/* with bounded: the next transition */
	bool		bounded;
	long		gmtoff;
} ZoneStretch;

static ZoneStretch zone_stretch;

/*
 * A timestamptz as JSON writes it (JsonEncodeDateTime: ISO 8601 with a
 * 'T', microseconds without trailing zeros, the session zone's offset as
 * +HH:MM). That call converts every time through pg_localtime and prints
 * through EncodeDateTime, a fifth of loading a 50-event context; here the
 * offset comes from the stretch above and the text is put together
 * directly. Years outside 1..9999, offsets with seconds and infinities go
 * the way they always went.
 */
static char *
timestamptz_json_text(TimestampTz t)
{
	struct pg_tm tm;
	fsec_t		fsec;
	pg_time_t	utime;
	char	   *out;
	char	   *p;
	long		off;

	if (TIMESTAMP_NOT_FINITE(t) || session_timezone == NULL)
		return JsonEncodeDateTime(NULL, TimestampTzGetDatum(t), TIMESTAMPTZOID, NULL);
	/* whole seconds since 1970, as timestamp2tm hands them to pg_localtime */
	utime = (pg_time_t) ((t - (t % USECS_PER_SEC + (t % USECS_PER_SEC < 0 ? USECS_PER_SEC : 0))) / USECS_PER_SEC +
						 (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY);
	if (zone_stretch.tz != session_timezone || utime < zone_stretch.from ||
		(zone_stretch.bounded && utime >= zone_stretch.until))
	{
		long		before_gmtoff,
					after_gmtoff;
		int			before_isdst,
					after_isdst;
		pg_time_t	boundary;
		int			r = pg_next_dst_boundary(&utime, &before_gmtoff, &before_isdst, &boundary,
											 &after_gmtoff, &after_isdst, session_timezone);

		if (r < 0)
		{
			zone_stretch.tz = NULL;
			return JsonEncodeDateTime(NULL, TimestampTzGetDatum(t), TIMESTAMPTZOID, NULL);
		}
		zone_stretch.tz = session_timezone;
		zone_stretch.from = utime;
		zone_stretch.until = boundary;
		zone_stretch.bounded = (r == 1);
		zone_stretch.gmtoff = before_gmtoff;
	}
	off = zone_stretch.gmtoff;
	if (off % SECS_PER_MINUTE != 0 ||
		timestamp2tm(t + (TimestampTz) off * USECS_PER_SEC, NULL, &tm, &fsec, NULL, NULL) != 0 ||
		tm.tm_year < 1 || tm.tm_year > 9999)
		return JsonEncodeDateTime(NULL, TimestampTzGetDatum(t), TIMESTAMPTZOID, NULL);

	out = palloc(40);
	p = pg_ultostr_zeropad(out, tm.tm_year, 4);
	*p++ = '-';
	p = pg_ultostr_zeropad(p, tm.tm_mon, 2);
	*p++ = '-';
	p = pg_ultostr_zeropad(p, tm.tm_mday, 2);
	*p++ = 'T';
	p = pg_ultostr_zeropad(p, tm.tm_hour, 2);
	*p++ = ':';
	p = pg_ultostr_zeropad(p, tm.tm_min, 2);
	*p++ = ':';
	p = pg_ultostr_zeropad(p, tm.tm_sec, 2);
	if (fsec != 0)
	{
		int			digits = 6;
		int			f = fsec;

		while (f % 10 == 0)
		{
			f /= 10;
			digits--;
		}
		*p++ = '.';
		p = pg_ultostr_zeropad(p, f, digits);
	}
	*p++ = off >= 0 ? '+' : '-';
	off = off < 0 ? -off : off;
	p = pg_ultostr_zeropad(p, (int) (off / SECS_PER_HOUR), 2);
	*p++ = ':';
	p = pg_ultostr_zeropad(p, (int) (off % SECS_PER_HOUR / SECS_PER_MINUTE), 2);
	*p = '\0';
	return out;
}

/*
 * A column of an event as the renderer reads it, with what to_jsonb would
 * make of it: integers, text, times as JSON writes them, a payload as its
 * one-line JSON (left out when it holds nothing: {}, [], null, "").
 */
static void
field_from_datum(PaField *f, Datum d, Oid type)
{
	switch (type)
	{
		case INT8OID:
			f->type = PA_FIELD_INT;
			f->i = DatumGetInt64(d);
			break;
		case INT4OID:
			f->type = PA_FIELD_INT;
			f->i = DatumGetInt32(d);
			break;
		case TIMESTAMPTZOID:
			{
				char	   *s = timestamptz_json_text(DatumGetTimestampTz(d));

				f->type = PA_FIELD_TEXT;
				f->text = s;
				f->len = strlen(s);
				break;
			}
		case TEXTOID:
			{
				text	   *t = DatumGetTextPP(d);

				field_text(f, VARDATA_ANY(t), (int) VARSIZE_ANY_EXHDR(t));
				break;
			}
		case JSONBOID:
			{
				Jsonb	   *jb = DatumGetJsonbP(d);
				json_t	   *j;
				PaBuf		b = {0};

				if (JB_ROOT_IS_OBJECT(jb) && JB_ROOT_COUNT(jb) == 0)
					break;		/* the usual empty payload, without converting it */
				j = pa_jsonb_to_json(jb);
				if (pa_render_has_content(j))
					pa_render_put_json(&b, j);
				json_decref(j);
				if (b.oom)
				{
					free(b.data);
					ereport(ERROR,
							(errcode(ERRCODE_OUT_OF_MEMORY),
							 errmsg("out of memory")));
				}
				if (b.len > 0)
				{
					f->type = PA_FIELD_JSON_TEXT;
					f->text = pnstrdup(b.data, b.len);
					f->len = b.len;
				}
				free(b.data);
				break;
			}
		default:
			{
				char	   *s = pa_datum_out(d, type);

				field_text(f, s, (int) strlen(s));
				break;
			}
	}
}

/* The event's fields, in the order of the statement's columns after the head's. */
static PaField *
event_field(PaEvent *e, int k)
{
	PaField    *fields[] = {&e->id, &e->seq, &e->occurred_at, &e->kind, &e->role,
	&e->content, &e->name, &e->tool_call_id, &e->payload};

	return fields[k];
}

#define N_EVENT_COLUMNS 9

/* A column as to_jsonb writes it (NULL as null). */
static json_t *
column_json(Datum value, bool isnull, Oid type)
{
	return isnull ? json_null() : pa_datum_to_json(value, type);
}

/* {"conversation": {...}, "customer": {...} | null, "memory": {...}} from a row's head columns. */
static json_t *
head_json(TupleDesc desc, const Datum *values, const bool *nulls)
{
	json_t	   *conversation = json_object();
	json_t	   *customer = json_null();
	int			k;

	for (k = 0; k < N_CONVERSATION; k++)
		json_object_set_new(conversation, conversation_columns[k],
							column_json(values[k], nulls[k], TupleDescAttr(desc, k)->atttypid));
	if (!nulls[N_CONVERSATION])
	{
		customer = json_object();
		for (k = 0; k < 3; k++)
		{
			int			col = N_CONVERSATION + 1 + k;

			json_object_set_new(customer, customer_columns[k],
								column_json(values[col], nulls[col], TupleDescAttr(desc, col)->atttypid));
		}
	}
	return json_pack("{s:o, s:o, s:o}", "conversation", conversation, "customer", customer,
					 "memory", nulls[N_HEAD - 1] ? json_object() :
					 pa_jsonb_to_json(DatumGetJsonbP(values[N_HEAD - 1])));
}

/* The entry of a conversation, made with its head the first time it is seen. */
static PaLoadedContext *
entry_for(LoadState *st, int64 id, TupleDesc desc, const Datum *values, const bool *nulls)
{
	PaLoadedContext *c;
	int			i;

	if (st->last >= 0 && st->v[st->last].id == id)
		return &st->v[st->last];
	for (i = 0; i < st->n; i++)
		if (st->v[i].id == id)
			return &st->v[st->last = i];
	if (st->n == st->cap)
	{
		st->cap = st->cap * 2 + 4;
		st->v = st->v ? repalloc(st->v, sizeof(PaLoadedContext) * st->cap) :
			palloc(sizeof(PaLoadedContext) * st->cap);
	}
	c = &st->v[st->last = st->n];
	memset(c, 0, sizeof(*c));
	c->id = id;
	c->head = head_json(desc, values, nulls);
	st->n++;					/* counted once it owns its head */
	return c;
}

/*
 * One row: its conversation's head the first time, then its event if any.
 * Each event is a PaEvent of fields (no JSON object per event: building
 * and freeing those was most of loading a transcript). NULL columns are
 * left absent.
 */
static void
context_row(const Datum *values, const bool *nulls, TupleDesc desc, void *arg)
{
	LoadState  *st = (LoadState *) arg;
	PaLoadedContext *c;
	PaEvent    *e;
	int			k;

	Assert(desc->natts == N_HEAD + N_EVENT_COLUMNS);
	c = entry_for(st, DatumGetInt64(values[0]), desc, values, nulls);
	if (nulls[N_HEAD])
		return;					/* no events: the one row of the outer join */
	if (c->n_events == c->cap)
	{
		c->cap = c->cap * 2 + 16;
		c->events = c->events ? repalloc(c->events, sizeof(PaEvent) * c->cap) :
			palloc(sizeof(PaEvent) * c->cap);
	}
	e = &c->events[c->n_events];
	memset(e, 0, sizeof(*e));
	for (k = 0; k < N_EVENT_COLUMNS; k++)
		if (!nulls[N_HEAD + k])
			field_from_datum(event_field(e, k), values[N_HEAD + k],
							 TupleDescAttr(desc, N_HEAD + k)->atttypid);
	c->n_events++;
}

static int
cmp_seq(const void *a, const void *b)
{
	long long	x = ((const PaEvent *) a)->seq.i;
	long long	y = ((const PaEvent *) b)->seq.i;

	return (x > y) - (x < y);
}

/* Events in conversation order (the index usually gives them so already). */
static void
sort_events(PaLoadedContext *c)
{
	int			i;

	for (i = 1; i < c->n_events; i++)
		if (c->events[i - 1].seq.i > c->events[i].seq.i)
		{
			qsort(c->events, c->n_events, sizeof(PaEvent), cmp_seq);
			return;
		}
}

void
pa_loaded_contexts_free(PaLoadedContext *v, int n)
{
	int			i;

	for (i = 0; i < n; i++)
		json_decref(v[i].head);
	if (v)
		pfree(v);
}

PaLoadedContext *
pa_run_load_contexts(Oid reader, const int64 *ids, int n, int *n_loaded)
{
	static char *sql_one = NULL;
	static char *sql_many = NULL;
	LoadState	st = {NULL, 0, 0, -1};
	Datum	   *elems = palloc(sizeof(Datum) * (n + 1));
	int			i;

	/*
	 * One conversation is found by plain key equality: a plan kept from
	 * when the tables were nearly empty cannot turn that into a scan.
	 */
	if (sql_one == NULL)
	{
		sql_one = MemoryContextStrdup(TopMemoryContext, psprintf(CONTEXT_SQL, "c.id = ($1)[1]"));
		sql_many = MemoryContextStrdup(TopMemoryContext, psprintf(CONTEXT_SQL, "c.id = ANY ($1)"));
	}
	for (i = 0; i < n; i++)
		elems[i] = Int64GetDatum(ids[i]);
	PG_TRY();
	{
		pa_sql_rows_by_index(reader, n == 1 ? sql_one : sql_many, 1, (Oid[]) {INT8ARRAYOID},
							 (Datum[]) {PointerGetDatum(construct_array(elems, n, INT8OID, 8,
																		FLOAT8PASSBYVAL,
																		TYPALIGN_DOUBLE))},
							 NULL, context_row, (void *) &st);
	}
	PG_CATCH();
	{
		/* jansson's memory is not the transaction's */
		for (i = 0; i < st.n; i++)
			json_decref(st.v[i].head);
		PG_RE_THROW();
	}
	PG_END_TRY();
	for (i = 0; i < st.n; i++)
		sort_events(&st.v[i]);
	*n_loaded = st.n;
	return st.v;
}

json_t *
pa_run_load_context(Oid reader, int64 conversation_id, Jsonb *input, PaLoadedContext *loaded)
{
	PaLoadedContext *v;
	int			n;
	json_t	   *context;

	memset(loaded, 0, sizeof(*loaded));
	loaded->id = conversation_id;
	/* A standalone run reads no conversation (nor needs the right to). */
	if (conversation_id < 0)
		return json_pack("{s:n, s:n, s:{}, s:o}", "conversation", "customer", "memory",
						 "input", pa_jsonb_to_json(input));
	v = pa_run_load_contexts(reader, &conversation_id, 1, &n);
	if (n != 1)
	{
		pa_loaded_contexts_free(v, n);
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("conversation %lld does not exist", (long long) conversation_id)));
	}
	*loaded = v[0];
	context = loaded->head;
	loaded->head = NULL;		/* the context owns it now */
	pfree(v);
	json_object_set_new(context, "input", pa_jsonb_to_json(input));
	return context;
}
