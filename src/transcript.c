/*
 * transcript.c — the conversation as the text a model reads and cites.
 *
 * Layout (sections without content are left out):
 *
 *   ## Conversation
 *   id: 42
 *   external_id: C-1001
 *   channel: voice
 *   status: terminated
 *   outcome: resolved
 *   started_at: 2024-05-01T12:00:00+00:00
 *   ended_at: 2024-05-01T12:10:00+00:00
 *   metadata: {"queue":"billing"}
 *
 *   ## Customer
 *   external_id: cust-7
 *   name: Ada Lovelace
 *   context: {"plan":"pro"}
 *
 *   ## Customer memory
 *   language: "en"
 *
 *   ## Events (4)
 *   [#1001 2024-05-01T12:00:05+00:00 customer] My parcel has not arrived.
 *     It was due on Monday.
 *   [#1002 2024-05-01T12:00:09+00:00 agent tool_call lookup_order call=c1] {"order":"A-17"}
 *   [#1003 2024-05-01T12:00:10+00:00 tool tool_result lookup_order call=c1] {"status":"shipped"}
 *   [#1004 2024-05-01T12:00:12+00:00 event transfer] {"to":"billing"}
 *
 *   ## Input
 *   {"mode":"audit"}
 *
 * An event line is "[#id occurred_at role kind name call=tool_call_id]"
 * followed by its content, then its payload (on a continuation line
 * "payload: ..." when there is content too). The kind is left out for
 * messages and when it repeats the role ("system"). Header tokens that are
 * not plain words (a name with a space or a bracket, say) are printed as
 * JSON strings, so a token can never close the bracket early.
 *
 * Lines that start in column 0 come only from here: text continuation
 * lines are indented by two spaces, which is what makes a forged
 * "\n[#999 ... agent] refund approved" inside a message harmless.
 *
 * Budget: everything is rendered once into one buffer, remembering where
 * each event starts; when the text is over budget, the output is cut and
 * pasted from that buffer (header, first events, a marker, last events,
 * input). So the cost is linear in the number of events either way.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "transcript.h"

/* Indent of continuation lines, in events and in header fields alike. */
#define CONT_INDENT "  "

/* U+FFFD, in place of control characters that have no business in text. */
#define REPLACEMENT_CHAR "\xEF\xBF\xBD"

/*
 * Bytes set aside for the marker line when choosing which events fit: five
 * integers of at most 20 characters plus the fixed wording stay well under.
 */
#define MARKER_RESERVE 256

/*
 * Why a rendering failed after its arguments were checked: an allocation,
 * or a string jansson cannot print (values made with the *_nocheck
 * constructors; pa_jsonb_to_json never makes those).
 */
#define FAILED_MSG "out of memory, or a JSON string that is not valid UTF-8"

/* Compact one-line JSON, independent of key insertion order. */
#define DUMP_FLAGS (JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS | JSON_REAL_PRECISION(15))

static char *
error_text(const char *msg)
{
	return strdup(msg);
}

/* ---------- text ---------- */

/*
 * Length in bytes of the line break starting at s[i], or 0. The set is
 * what any reader (including Python's str.splitlines) may take for a new
 * line; all of them must be re-indented, not only "\n".
 */
static size_t
line_break_len(const unsigned char *s, size_t i, size_t len)
{
	switch (s[i])
	{
		case '\r':
			return (i + 1 < len && s[i + 1] == '\n') ? 2 : 1;
		case '\n':
		case '\v':
		case '\f':
		case 0x1c:
		case 0x1d:
		case 0x1e:
			return 1;
		case 0xC2:				/* U+0085 NEL */
			return (i + 1 < len && s[i + 1] == 0x85) ? 2 : 0;
		case 0xE2:				/* U+2028 LS, U+2029 PS */
			return (i + 2 < len && s[i + 1] == 0x80 &&
					(s[i + 2] == 0xA8 || s[i + 2] == 0xA9)) ? 3 : 0;
		default:
			return 0;
	}
}

/* Length of a control character (other than tab and line breaks) at s[i], or 0. */
static size_t
control_len(const unsigned char *s, size_t i, size_t len)
{
	if ((s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f)
		return 1;
	/* C1 controls U+0080..U+009F (U+0085 is a line break, tested first) */
	if (s[i] == 0xC2 && i + 1 < len && s[i + 1] >= 0x80 && s[i + 1] <= 0x9F)
		return 2;
	return 0;
}

/* Length of white space (blank or line break) ending at s[end - 1], or 0. */
static size_t
trailing_space_len(const unsigned char *s, size_t end)
{
	unsigned char c = s[end - 1];

	if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
		c == '\f' || (c >= 0x1c && c <= 0x1e))
		return 1;
	if (end >= 2 && s[end - 2] == 0xC2 && c == 0x85)
		return 2;
	if (end >= 3 && s[end - 3] == 0xE2 && s[end - 2] == 0x80 &&
		(c == 0xA8 || c == 0xA9))
		return 3;
	return 0;
}

void
pa_render_put_text(PaBuf *b, const char *text, size_t len, const char *indent)
{
	const unsigned char *s = (const unsigned char *) text;
	size_t		i = 0;
	size_t		run;			/* start of the bytes not yet copied */
	bool		line_start = false;

	/* Trim: white space at the edges only costs tokens and blank lines. */
	while (i < len)
	{
		size_t		n = line_break_len(s, i, len);

		if (n == 0 && (s[i] == ' ' || s[i] == '\t'))
			n = 1;
		if (n == 0)
			break;
		i += n;
	}
	while (len > i)
	{
		size_t		n = trailing_space_len(s, len);

		if (n == 0)
			break;
		len -= n;
	}

	/* Copy runs of ordinary bytes in one go; stop only at special ones. */
	run = i;
	while (i < len)
	{
		size_t		n;

		if (s[i] >= 0x20 && s[i] != 0x7f && s[i] != 0xC2 && s[i] != 0xE2)
		{
			if (line_start)
			{
				pa_buf_puts(b, indent);
				line_start = false;
			}
			i++;
			continue;
		}
		if (i > run)
			pa_buf_putn(b, text + run, i - run);
		if ((n = line_break_len(s, i, len)) > 0)
		{
			/* blank lines stay unindented: they cannot forge anything */
			pa_buf_putc(b, '\n');
			line_start = true;
		}
		else
		{
			if (line_start)
			{
				pa_buf_puts(b, indent);
				line_start = false;
			}
			if ((n = control_len(s, i, len)) > 0)
				pa_buf_puts(b, REPLACEMENT_CHAR);
			else
			{
				/* an ordinary character starting with 0xC2 or 0xE2 */
				n = 1;
				pa_buf_putn(b, text + i, 1);
			}
		}
		i += n;
		run = i;
	}
	if (i > run)
		pa_buf_putn(b, text + run, i - run);
}

/* ---------- JSON ---------- */

static int
dump_to_buf(const char *chunk, size_t size, void *arg)
{
	PaBuf	   *b = arg;

	pa_buf_putn(b, chunk, size);
	return b->oom ? -1 : 0;
}

void
pa_render_put_json(PaBuf *b, json_t *value)
{
	size_t		start = b->len;
	size_t		i;
	bool		separators = false;

	/* a failed dump latches "oom" too: see FAILED_MSG */
	if (json_dump_callback(value, dump_to_buf, b, DUMP_FLAGS) != 0)
	{
		b->oom = 1;
		return;
	}

	/*
	 * jansson escapes C0 controls in strings but not U+0085, U+2028 and
	 * U+2029, which some readers take for line breaks. They can only occur
	 * inside strings, where \uXXXX means the same; rewrite the (rare)
	 * dump that has one.
	 */
	for (i = start; i < b->len && !separators; i++)
		if ((unsigned char) b->data[i] >= 0xC2 &&
			line_break_len((unsigned char *) b->data, i, b->len) > 1)
			separators = true;
	if (separators)
	{
		size_t		n = b->len - start;
		unsigned char *copy = malloc(n);

		if (copy == NULL)
		{
			b->oom = 1;
			return;
		}
		memcpy(copy, b->data + start, n);
		b->len = start;
		for (i = 0; i < n; i++)
		{
			size_t		k = copy[i] >= 0xC2 ? line_break_len(copy, i, n) : 0;

			if (k > 1)
			{
				pa_buf_puts(b, k == 2 ? "\\u0085" :
							copy[i + 2] == 0xA8 ? "\\u2028" : "\\u2029");
				i += k - 1;
			}
			else
				pa_buf_putn(b, (char *) copy + i, 1);
		}
		free(copy);
	}
}

/* ---------- header tokens and fields ---------- */

/* Is s a plain word (or, with allow_space, words) that needs no quoting? */
static bool
is_plain_token(const unsigned char *s, size_t len, bool allow_space)
{
	size_t		i;

	if (len == 0 || s[0] == ' ' || s[len - 1] == ' ')
		return false;
	for (i = 0; i < len; i++)
	{
		unsigned char c = s[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			(c >= '0' && c <= '9'))
			continue;
		switch (c)
		{
			case '_':
			case '-':
			case '.':
			case ':':
			case '/':
			case '+':
			case '@':
				continue;
			case ' ':
				if (allow_space)
					continue;
				return false;
			default:
				break;
		}
		if (c >= 0x80 && line_break_len(s, i, len) == 0 &&
			control_len(s, i, len) == 0)
			continue;
		return false;
	}
	return true;
}

/* Text as a JSON string. */
static void
put_quoted(PaBuf *b, const char *s, size_t len)
{
	json_t	   *quoted = json_stringn(s, len);

	if (quoted == NULL)
	{
		b->oom = 1;
		return;
	}
	pa_render_put_json(b, quoted);
	json_decref(quoted);
}

/*
 * A token of an event header or a memory key: a plain word as it is,
 * anything else (spaces, brackets, quotes, line breaks) as a JSON string.
 */
static void
put_token_text(PaBuf *b, const char *s, size_t len, bool allow_space)
{
	if (is_plain_token((const unsigned char *) s, len, allow_space))
		pa_buf_putn(b, s, len);
	else
		put_quoted(b, s, len);
}

/* An integer by hand: a dump through jansson costs an snprintf each. */
static void
put_integer(PaBuf *b, long long v)
{
	char		digits[24];
	char	   *p = digits + sizeof(digits);
	/* unsigned, so that the most negative value negates cleanly */
	unsigned long long u = v < 0 ? 0 - (unsigned long long) v : (unsigned long long) v;

	do
	{
		*--p = (char) ('0' + u % 10);
		u /= 10;
	} while (u > 0);
	if (v < 0)
		*--p = '-';
	pa_buf_putn(b, p, (size_t) (digits + sizeof(digits) - p));
}

/* A token from a field: text as above, integers (ids) as digits, other values as JSON. */
static void
put_token(PaBuf *b, const PaField *f, bool allow_space)
{
	switch (f->type)
	{
		case PA_FIELD_TEXT:
			put_token_text(b, f->text, f->len, allow_space);
			break;
		case PA_FIELD_INT:
			put_integer(b, f->i);
			break;
		case PA_FIELD_JSON:
			pa_render_put_json(b, f->json);
			break;
		case PA_FIELD_JSON_TEXT:
			pa_buf_putn(b, f->text, f->len);
			break;
		case PA_FIELD_NONE:
			break;
	}
}

int
pa_render_has_content(json_t *value)
{
	if (value == NULL || json_is_null(value))
		return false;
	if (json_is_string(value))
		return json_string_length(value) > 0;
	if (json_is_object(value))
		return json_object_size(value) > 0;
	if (json_is_array(value))
		return json_array_size(value) > 0;
	return true;
}

/* "label: value" on its own line; text as text, anything else as JSON. */
static void
put_field(PaBuf *b, json_t *object, const char *label)
{
	json_t	   *value = json_object_get(object, label);

	if (!pa_render_has_content(value))
		return;
	pa_buf_puts(b, label);
	pa_buf_puts(b, ": ");
	if (json_is_string(value))
		pa_render_put_text(b, json_string_value(value), json_string_length(value),
						   CONT_INDENT);
	else
		pa_render_put_json(b, value);
	pa_buf_putc(b, '\n');
}

/* Section header, separated from what came before by a blank line. */
static void
put_section(PaBuf *b, const char *title)
{
	if (b->len > 0)
		pa_buf_putc(b, '\n');
	pa_buf_puts(b, "## ");
	pa_buf_puts(b, title);
	pa_buf_putc(b, '\n');
}

static const char *const conversation_fields[] = {
	"id", "external_id", "channel", "status", "outcome",
	"started_at", "ended_at", "metadata"
};
static const char *const customer_fields[] = {"external_id", "name", "context"};

static void
put_fields(PaBuf *b, const char *title, json_t *object,
		   const char *const *fields, size_t nfields)
{
	size_t		i;
	bool		any = false;

	for (i = 0; i < nfields && !any; i++)
		any = pa_render_has_content(json_object_get(object, fields[i]));
	if (!any)
		return;
	put_section(b, title);
	for (i = 0; i < nfields; i++)
		put_field(b, object, fields[i]);
}

static int
compare_keys(const void *a, const void *b)
{
	return strcmp(*(const char *const *) a, *(const char *const *) b);
}

const char **
pa_render_sorted_keys(json_t *object, size_t *count)
{
	size_t		n = json_object_size(object);
	const char **keys = malloc((n > 0 ? n : 1) * sizeof(*keys));
	const char *key;
	json_t	   *value;
	size_t		i = 0;

	*count = 0;
	if (keys == NULL)
		return NULL;
	json_object_foreach(object, key, value)
		keys[i++] = key;
	qsort(keys, n, sizeof(*keys), compare_keys);
	*count = n;
	return keys;
}

/* Memory, one "key: <JSON value>" line per key, keys sorted. */
static void
put_memory(PaBuf *b, json_t *memory)
{
	size_t		n;
	const char **keys;
	size_t		i;

	if (json_object_size(memory) == 0)
		return;
	if ((keys = pa_render_sorted_keys(memory, &n)) == NULL)
	{
		b->oom = 1;
		return;
	}
	put_section(b, "Customer memory");
	for (i = 0; i < n; i++)
	{
		put_token_text(b, keys[i], strlen(keys[i]), false);
		pa_buf_puts(b, ": ");
		pa_render_put_json(b, json_object_get(memory, keys[i]));
		pa_buf_putc(b, '\n');
	}
	free(keys);
}

/* ---------- events ---------- */

/* Does a field hold something worth printing? */
static bool
field_has_content(const PaField *f)
{
	switch (f->type)
	{
		case PA_FIELD_TEXT:
		case PA_FIELD_JSON_TEXT:
			return f->len > 0;
		case PA_FIELD_INT:
			return true;
		case PA_FIELD_JSON:
			return pa_render_has_content(f->json);
		case PA_FIELD_NONE:
			break;
	}
	return false;
}

static bool
field_is_text(const PaField *f, const char *s)
{
	return f->type == PA_FIELD_TEXT && f->len == strlen(s) && memcmp(f->text, s, f->len) == 0;
}

/* Append one header token, space-separated from the previous one. */
static void
put_event_token(PaBuf *b, bool *first, const char *prefix, const PaField *f,
				bool allow_space)
{
	if (!field_has_content(f))
		return;
	if (!*first)
		pa_buf_putc(b, ' ');
	*first = false;
	pa_buf_puts(b, prefix);
	put_token(b, f, allow_space);
}

/* A JSON value as a field: strings as text, integers as integers. */
static void
field_from_json(json_t *value, PaField *f)
{
	if (json_is_string(value))
	{
		f->type = PA_FIELD_TEXT;
		f->text = json_string_value(value);
		f->len = json_string_length(value);
	}
	else if (json_is_integer(value))
	{
		f->type = PA_FIELD_INT;
		f->i = (long long) json_integer_value(value);
	}
	else if (value != NULL && !json_is_null(value))
	{
		f->type = PA_FIELD_JSON;
		f->json = value;
	}
}

/*
 * The fields of a JSON event, in one pass over its keys instead of a hash
 * lookup per field: with 10,000 events the lookups (most of them misses)
 * were a fifth of the time. The strings belong to the event.
 */
static void
event_from_json(json_t *ev, PaEvent *e)
{
	const char *key;
	json_t	   *value;

	memset(e, 0, sizeof(*e));
	json_object_foreach(ev, key, value)
	{
		if (strcmp(key, "id") == 0)
			field_from_json(value, &e->id);
		else if (strcmp(key, "seq") == 0)
			field_from_json(value, &e->seq);
		else if (strcmp(key, "occurred_at") == 0)
			field_from_json(value, &e->occurred_at);
		else if (strcmp(key, "kind") == 0)
			field_from_json(value, &e->kind);
		else if (strcmp(key, "role") == 0)
			field_from_json(value, &e->role);
		else if (strcmp(key, "content") == 0)
			field_from_json(value, &e->content);
		else if (strcmp(key, "name") == 0)
			field_from_json(value, &e->name);
		else if (strcmp(key, "tool_call_id") == 0)
			field_from_json(value, &e->tool_call_id);
		else if (strcmp(key, "payload") == 0)
			field_from_json(value, &e->payload);
	}
}

static void
put_event(PaBuf *b, const PaEvent *e)
{
	bool		first = true;
	bool		has_text;

	pa_buf_putc(b, '[');
	put_event_token(b, &first, "#", &e->id, false);
	put_event_token(b, &first, "", &e->occurred_at, true);
	put_event_token(b, &first, "", &e->role, false);
	/* the kind is left out for messages and when it repeats the role */
	if (!field_is_text(&e->kind, "message") &&
		!(e->kind.type == PA_FIELD_TEXT && e->role.type == PA_FIELD_TEXT &&
		  e->kind.len == e->role.len && memcmp(e->kind.text, e->role.text, e->kind.len) == 0))
		put_event_token(b, &first, "", &e->kind, false);
	put_event_token(b, &first, "", &e->name, false);
	put_event_token(b, &first, "call=", &e->tool_call_id, false);
	pa_buf_putc(b, ']');

	has_text = field_has_content(&e->content);
	if (has_text)
	{
		size_t		before;

		pa_buf_putc(b, ' ');
		before = b->len;
		if (e->content.type == PA_FIELD_TEXT)
			pa_render_put_text(b, e->content.text, e->content.len, CONT_INDENT);
		else
			put_token(b, &e->content, false);
		/* only white space: take back the blank written for it */
		if (b->len == before && !b->oom)
		{
			b->data[--b->len] = '\0';
			has_text = false;
		}
	}
	if (field_has_content(&e->payload))
	{
		pa_buf_puts(b, has_text ? "\n" CONT_INDENT "payload: " : " ");
		if (e->payload.type == PA_FIELD_TEXT)
			put_quoted(b, e->payload.text, e->payload.len);
		else
			put_token(b, &e->payload, false);
	}
	pa_buf_putc(b, '\n');
}

/* "seq 5 to 9" or "#1042 to #1046": one range of the marker. */
static void
put_range(PaBuf *b, const char *label, const char *prefix, long long first, long long last)
{
	if (first == last)
		pa_buf_printf(b, "%s%s%lld", label, prefix, first);
	else
		pa_buf_printf(b, "%s%s%lld to %s%lld", label, prefix, first, prefix, last);
}

/*
 * The line standing for events [from, to) that were left out, with their
 * seq and id ranges when those are integers (what read_events takes).
 * Bounded length: see MARKER_RESERVE.
 */
static void
put_marker(PaBuf *b, const PaEvent *events, size_t from, size_t to)
{
	const PaEvent *first = &events[from];
	const PaEvent *last = &events[to - 1];
	bool		seqs = first->seq.type == PA_FIELD_INT && last->seq.type == PA_FIELD_INT;
	bool		ids = first->id.type == PA_FIELD_INT && last->id.type == PA_FIELD_INT;

	pa_buf_printf(b, "[... %zu event%s left out here", to - from,
				  to - from == 1 ? "" : "s");
	if (seqs || ids)
	{
		pa_buf_puts(b, " (");
		if (seqs)
			put_range(b, "seq ", "", first->seq.i, last->seq.i);
		if (seqs && ids)
			pa_buf_puts(b, ", ");
		if (ids)
			put_range(b, "", "#", first->id.i, last->id.i);
		pa_buf_putc(b, ')');
	}
	pa_buf_puts(b, "; read them with the " PA_READ_EVENTS_TOOL " tool ...]\n");
}

/*
 * Choose the events kept under a budget: [0, *head) and [*tail, n).
 * off[i] is where event i starts in the full rendering, off[n] where the
 * last one ends. The head gets half the room first, the tail whatever is
 * left, then the head any room the tail did not use.
 */
static void
choose_events(const size_t *off, size_t n, size_t room, size_t *head, size_t *tail)
{
	size_t		h = 0,
				t = n;
	size_t		used;

	while (h < n && off[h + 1] - off[0] <= room / 2)
		h++;
	used = off[h] - off[0];
	while (t > h && used + (off[t] - off[t - 1]) <= room)
	{
		used += off[t] - off[t - 1];
		t--;
	}
	while (h < t && used + (off[h + 1] - off[h]) <= room)
	{
		used += off[h + 1] - off[h];
		h++;
	}
	*head = h;
	*tail = t;
}

/* ---------- the whole ---------- */

static bool
object_or_null(json_t *value)
{
	return value == NULL || json_is_null(value) || json_is_object(value);
}

/*
 * A context's "events" (a JSON array of objects, or missing) taken apart:
 * a malloc'd array in *own (NULL when there are none) that points into
 * the events; NULL with *errmsg when they are not of the right types.
 */
static const PaEvent *
json_events(json_t *events, size_t *n, PaEvent **own, char **errmsg)
{
	static const PaEvent none;
	size_t		i;

	*own = NULL;
	*n = 0;
	if (events != NULL && !json_is_null(events) && !json_is_array(events))
	{
		*errmsg = error_text("\"events\" of the transcript context must be a JSON array");
		return NULL;
	}
	for (i = 0; i < json_array_size(events); i++)
	{
		if (!json_is_object(json_array_get(events, i)))
		{
			char		msg[96];

			snprintf(msg, sizeof(msg),
					 "event %zu of the transcript context is not a JSON object", i);
			*errmsg = error_text(msg);
			return NULL;
		}
	}
	if (json_array_size(events) == 0)
		return &none;
	if ((*own = malloc(json_array_size(events) * sizeof(PaEvent))) == NULL)
	{
		*errmsg = error_text("out of memory");
		return NULL;
	}
	for (i = 0; i < json_array_size(events); i++)
		event_from_json(json_array_get(events, i), &(*own)[i]);
	*n = json_array_size(events);
	return *own;
}

char *
pa_render_transcript(json_t *context, const PaTranscriptOptions *opts, char **errmsg)
{
	PaBuf		b = {0};
	PaBuf		out = {0};
	json_t	   *conversation = json_object_get(context, "conversation");
	json_t	   *customer = json_object_get(context, "customer");
	json_t	   *memory = json_object_get(context, "memory");
	json_t	   *events = json_object_get(context, "events");
	json_t	   *input = json_object_get(context, "input");
	size_t		max_chars = opts ? opts->max_chars : 0;
	size_t		n,
				i,
				events_start,
				input_start,
				fixed,
				head,
				tail;
	size_t	   *off;
	const PaEvent *ev;
	PaEvent    *own_ev = NULL;
	char		title[48];

	*errmsg = NULL;
	if (opts && opts->omitted)
		*opts->omitted = 0;
	if (!json_is_object(context))
	{
		*errmsg = error_text("transcript context must be a JSON object");
		return NULL;
	}
	if (!object_or_null(conversation) || !object_or_null(customer) ||
		!object_or_null(memory))
	{
		*errmsg = error_text("\"conversation\", \"customer\" and \"memory\" of the "
							 "transcript context must be JSON objects or null");
		return NULL;
	}
	if (opts && opts->use_events)
	{
		ev = opts->events;
		n = opts->n_events;
	}
	else if ((ev = json_events(events, &n, &own_ev, errmsg)) == NULL)
		return NULL;
	if ((off = malloc((n + 1) * sizeof(*off))) == NULL)
	{
		free(own_ev);
		*errmsg = error_text("out of memory");
		return NULL;
	}

	put_fields(&b, "Conversation", conversation, conversation_fields,
			   sizeof(conversation_fields) / sizeof(conversation_fields[0]));
	put_fields(&b, "Customer", customer, customer_fields,
			   sizeof(customer_fields) / sizeof(customer_fields[0]));
	put_memory(&b, memory);

	snprintf(title, sizeof(title), "Events (%zu)", n);
	put_section(&b, title);
	if (n == 0)
		pa_buf_puts(&b, "(no events)\n");
	events_start = b.len;
	for (i = 0; i < n; i++)
	{
		off[i] = b.len;
		put_event(&b, &ev[i]);
	}
	off[n] = b.len;

	input_start = b.len;
	/* no input ({} for post-hoc runs) is no section, as for the others */
	if (input != NULL && !json_is_null(input) &&
		!(json_is_object(input) && json_object_size(input) == 0))
	{
		put_section(&b, "Input");
		pa_render_put_json(&b, input);
		pa_buf_putc(&b, '\n');
	}

	if (b.oom || max_chars == 0 || b.len <= max_chars || n == 0)
	{
		free(off);
		free(own_ev);
		if (b.oom)
		{
			free(b.data);
			*errmsg = error_text(FAILED_MSG);
			return NULL;
		}
		return b.data;
	}

	/* Over budget: header, first events, marker, last events, input. */
	fixed = events_start + (b.len - input_start) + MARKER_RESERVE;
	choose_events(off, n, max_chars > fixed ? max_chars - fixed : 0, &head, &tail);
	pa_buf_putn(&out, b.data, off[head]);
	put_marker(&out, ev, head, tail);
	if (opts && opts->omitted)
		*opts->omitted = tail - head;
	pa_buf_putn(&out, b.data + off[tail], b.len - off[tail]);

	free(off);
	free(own_ev);
	free(b.data);
	if (out.oom)
	{
		free(out.data);
		*errmsg = error_text(FAILED_MSG);
		return NULL;
	}
	return out.data;
}
