/*
 * transcript_fuzz.c — libFuzzer target for the transcript renderer
 * (src/transcript.c) and the prompt renderers (src/prompt.c), with
 * src/pa_buf.c under both.
 *
 * Input: a JSON context document as pa_render_transcript takes it
 * ({"conversation", "customer", "memory", "events", "input"}; see
 * transcript.h). It is rendered without a budget, then under two budgets
 * taken from the full text's length (so the head/tail cut and its marker
 * are reached whatever the size). Keys the renderer ignores feed the
 * prompt renderers: "instructions" (string), "outputs" (object),
 * "planning" (string) and "tools" (array).
 *
 * Checked beyond the sanitizers, from transcript.h's promises: the text
 * is valid UTF-8 (controls are replaced and cuts fall between events, so
 * a model never gets a broken character), rendering is deterministic,
 * the number left out is not more than there are events, nothing left out
 * means the full text, and a cut text is not longer than the budget or the
 * full text by more than a marker line.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prompt.h"
#include "transcript.h"
#include "fuzz_init.h"

static void
violation(const char *what, const char *text)
{
	fprintf(stderr, "transcript: %s\n---\n%s\n---\n", what, text ? text : "(null)");
	abort();
}

/* jansson refuses to make a string of invalid UTF-8 */
static bool
valid_utf8(const char *text)
{
	json_t	   *s = json_string(text);
	bool		ok = s != NULL;

	json_decref(s);
	return ok;
}

static char *
render(json_t *context, size_t max_chars, size_t *omitted)
{
	PaTranscriptOptions opts = {max_chars, omitted};
	char	   *err = NULL;
	char	   *text = pa_render_transcript(context, &opts, &err);

	free(err);
	if (text != NULL && !valid_utf8(text))
		violation("not valid UTF-8", text);
	return text;
}

static void
check_budget(json_t *context, const char *full, size_t budget)
{
	size_t		n = json_array_size(json_object_get(context, "events"));
	size_t		omitted = 0;
	char	   *cut = render(context, budget, &omitted);
	char	   *again = render(context, budget, NULL);

	if (cut == NULL || again == NULL || strcmp(cut, again) != 0)
		violation("same context and budget, different text (or none)", cut);
	if (omitted > n)
		violation("more events left out than there are", cut);
	if (omitted == 0 && strcmp(cut, full) != 0)
		violation("nothing left out, yet the text differs from the full one", cut);
	/* the marker line takes at most MARKER_RESERVE (256) bytes */
	if (omitted > 0 && strlen(cut) > (budget > strlen(full) ? budget : strlen(full)) + 256)
		violation("a cut text longer than the budget or the full text, plus a marker", cut);
	free(cut);
	free(again);
}

static void
render_prompts(json_t *doc)
{
	const char *instructions = json_string_value(json_object_get(doc, "instructions"));
	const char *planning = json_string_value(json_object_get(doc, "planning"));
	json_t	   *outputs = json_object_get(doc, "outputs");
	json_t	   *tools = json_object_get(doc, "tools");
	char	   *err = NULL;
	char	   *text;

	if (instructions == NULL)
		return;
	text = pa_render_system_prompt(instructions, outputs, planning, &err);
	if (text != NULL && !valid_utf8(text))
		violation("system prompt not valid UTF-8", text);
	free(text);
	free(err);
	err = NULL;
	text = pa_render_planning_prompt(instructions, outputs, tools, &err);
	if (text != NULL && !valid_utf8(text))
		violation("planning prompt not valid UTF-8", text);
	free(text);
	free(err);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t	   *doc = json_loadb((const char *) data, size, JSON_ALLOW_NUL, NULL);
	char	   *full;

	if (doc == NULL)
		return 0;
	full = render(doc, 0, NULL);
	if (full != NULL)
	{
		size_t		len = strlen(full);

		check_budget(doc, full, len / 2 + 1);
		check_budget(doc, full, len / 7 + 1);
		free(full);
	}
	render_prompts(doc);
	json_decref(doc);
	return 0;
}
