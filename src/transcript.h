/*
 * transcript.h — render a conversation (its header, customer, memory,
 * events and the invocation input) as the text a model reads.
 *
 * Plain C over jansson (through pa_json.h) and pa_buf: no server headers,
 * so the renderer is unit-tested, timed and sanitised outside the server.
 *
 * The context object is assembled by the server side:
 *   {"conversation": {"id", "external_id", "channel", "status", "outcome",
 *                     "started_at", "ended_at", "metadata": {...}},
 *    "customer": {"external_id", "name", "context": {...}} | null,
 *    "memory": {"key": value, ...},
 *    "events": [{"id", "seq", "occurred_at", "kind", "role", "content",
 *                "name", "tool_call_id", "payload": {...}}, ...],
 *    "input": <any JSON> | null}
 * Missing and null fields are left out of the text; so are empty objects.
 *
 * The rendering (see transcript.c for the exact layout):
 *
 *   ## Conversation
 *   id: 42
 *   channel: voice
 *   ...
 *   ## Events (3)
 *   [#1001 2024-05-01T12:00:05Z customer] My parcel has not arrived.
 *     It was due on Monday.
 *   [#1002 2024-05-01T12:00:09Z agent tool_call lookup_order call=c1] {"order":"A-17"}
 *   ...
 *   ## Input
 *   {"mode":"audit"}
 *
 * Only the renderer starts a line with "[" or "##": every continuation line
 * of event content (and of any other text) is indented, and names that are
 * not plain words are JSON-quoted, so no content can pass for another
 * event, a marker or a section.
 */
#ifndef PA_TRANSCRIPT_H
#define PA_TRANSCRIPT_H

#include <stddef.h>

#include "pa_buf.h"
#include "pa_json.h"

/* The tool the truncation marker points the model to. */
#define PA_READ_EVENTS_TOOL "read_events"

/*
 * A field of an event as the renderer reads it: absent, text (UTF-8, len
 * bytes), an integer, a JSON value, or JSON already rendered as one line
 * (pa_render_put_json's text).
 */
typedef enum PaFieldType
{
	PA_FIELD_NONE = 0,
	PA_FIELD_TEXT,
	PA_FIELD_INT,
	PA_FIELD_JSON,
	PA_FIELD_JSON_TEXT
} PaFieldType;

typedef struct PaField
{
	PaFieldType type;
	const char *text;			/* TEXT, JSON_TEXT */
	size_t		len;
	long long	i;				/* INT */
	json_t	   *json;			/* JSON */
} PaField;

/*
 * An event with its fields taken out: what the server builds from its rows
 * without a JSON object per event (PaTranscriptOptions.events), and what
 * the renderer makes of a context's "events" otherwise.
 */
typedef struct PaEvent
{
	PaField		id,
				seq,
				occurred_at,
				kind,
				role,
				content,
				name,
				tool_call_id,
				payload;
} PaEvent;

/* Does a JSON value hold something worth a line (not null, "", {} or [])? */
extern int	pa_render_has_content(json_t *value);

typedef struct PaTranscriptOptions
{
	/*
	 * Budget of the whole text in bytes of UTF-8 (so never more characters
	 * than that); 0 = unlimited. When the events do not fit, the first and
	 * last events are kept, around one marker line naming the events left
	 * out. The header and the input are always kept, so a text whose
	 * header and input alone exceed the budget is longer than max_chars.
	 */
	size_t		max_chars;
	/* When not NULL, receives the number of events left out (0 if none). */
	size_t	   *omitted;

	/*
	 * When use_events is set, the n_events events rendered, in this order
	 * (events may be NULL when there are none); the context's "events" is
	 * not read.
	 */
	int			use_events;
	const PaEvent *events;
	size_t		n_events;
} PaTranscriptOptions;

/*
 * Render "context" (see above). "opts" may be NULL (no budget). Returns a
 * malloc'd NUL-terminated text, or NULL with *errmsg (malloc'd) saying why:
 * context or events of the wrong JSON type, or out of memory.
 * Deterministic: object keys are printed sorted, whatever the order the
 * objects were built in. Linear in the size of the context.
 */
extern char *pa_render_transcript(json_t *context, const PaTranscriptOptions *opts,
								  char **errmsg);

/*
 * Shared with prompt.c: append text so that it cannot break the layout
 * around it. Line breaks of any kind (\r\n, \r, \v, \f, \x1c-\x1e, U+0085,
 * U+2028, U+2029) become "\n" followed by "indent" (blank lines are left
 * unindented); other control characters except tab become U+FFFD; leading
 * and trailing white space is dropped.
 */
extern void pa_render_put_text(PaBuf *b, const char *s, size_t len, const char *indent);

/*
 * Shared with prompt.c: a one-line JSON text of "value" (compact, keys
 * sorted, reals to 15 significant digits; line separators inside strings
 * escaped).
 */
extern void pa_render_put_json(PaBuf *b, json_t *value);

/*
 * Shared with prompt.c: the keys of a JSON object in strcmp order (the
 * strings belong to the object), so renderings do not depend on the order
 * an object was built in. malloc'd; NULL when out of memory.
 */
extern const char **pa_render_sorted_keys(json_t *object, size_t *count);

#endif							/* PA_TRANSCRIPT_H */
