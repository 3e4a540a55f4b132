/*
 * prompt.h — the system prompts of an agent run.
 *
 * Plain C over jansson (through pa_json.h): no server headers.
 *
 * pa_render_system_prompt() is the system prompt of every model call of a
 * run: the preamble, the agent's instructions ("## Procedure"), how to read
 * the transcript ("## Transcript"), the output types and their record_<name>
 * tools ("## Outputs"), the planning directive ("## Planning") and the rule
 * for ending the turn ("## Finishing").
 *
 * pa_render_planning_prompt() is the system prompt of the separate
 * planning call made when planning is "high": the same procedure,
 * transcript guide and outputs, the tools available, and the request for a
 * numbered plan without any tool call. Its answer is then put in the
 * conversation of the run, which the "high" directive points the model to.
 *
 * "outputs" is the agent's normalised outputs object:
 *   {"<name>": {"schema": {...}, "cardinality": "one"|"many",
 *               "required": true|false, "evidence": true|false,
 *               "description": "..."}, ...}
 * (cardinality defaults to "one", required to true, evidence to false).
 * Outputs are listed by name in strcmp order. The schema itself is not
 * repeated: it is the parameters of the record_<name> tool.
 *
 * Both return a malloc'd NUL-terminated text, or NULL with *errmsg
 * (malloc'd) naming what was wrong with the arguments, or "out of memory".
 */
#ifndef PA_PROMPT_H
#define PA_PROMPT_H

#include "pa_json.h"

/* Prefix of the tool that records output <name>. */
#define PA_RECORD_TOOL_PREFIX "record_"

/* planning: "none", "low" or "high". */
extern char *pa_render_system_prompt(const char *instructions, json_t *outputs,
									 const char *planning, char **errmsg);

/*
 * tools: the neutral tools array of the run ([{"name", "description",
 * "parameters"}, ...]) or NULL. record_* tools in it are skipped: the
 * outputs section already lists them.
 */
extern char *pa_render_planning_prompt(const char *instructions, json_t *outputs,
									   json_t *tools, char **errmsg);

#endif							/* PA_PROMPT_H */
