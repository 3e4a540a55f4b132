/*
 * agent.h — the step machine that runs an agent: state in, one event, state
 * out. Plain C over jansson (no server headers).
 *
 * The state is a json object (checkpointable as jsonb). A driver — pa_invoke
 * in the caller's backend today, the background worker later — loops:
 *
 *     state = pa_sm_start(spec, first_user_text)
 *     while ((action = pa_sm_next(spec, state, &request)) != PA_SM_DONE)
 *         CALL_MODEL: send request; pa_sm_model_response(spec, state, response)
 *                     (or pa_sm_fail on a transport/provider error)
 *         RUN_TOOLS:  for each of pa_sm_pending(state):
 *                         run it; pa_sm_tool_result(spec, state, id, text, is_error)
 *
 * The machine handles record_<output> calls itself (validation, repairs,
 * cardinality), answers unknown tools and invalid arguments with tool
 * errors, reminds once about missing required outputs, and decides when the
 * run is over. Final state: "status" succeeded | failed, "recorded"
 * {output: [objects]}, "evidence" {output: [[event ids] per object]} for
 * outputs that need evidence, "error" {code, message, detail}.
 */
#ifndef PA_AGENT_H
#define PA_AGENT_H

#include "jsonschema.h"
#include "model.h"

typedef struct PaOutputType
{
	const char *name;
	const PaSchema *schema;
	bool		many;
	bool		required;
	bool		evidence;		/* arguments are {"object", "evidence": [event ids]} */
} PaOutputType;

typedef struct PaUserTool
{
	const char *name;
	const PaSchema *parameters;
} PaUserTool;

typedef struct PaAgentSpec
{
	const char *model;
	const char *system_prompt;
	const char *planning_prompt;	/* system prompt of the planning call (high) */
	const char *planning;		/* none | low | high */
	json_t	   *tools;			/* neutral tools offered: record_* and user tools */
	const PaOutputType *outputs;
	int			n_outputs;
	const PaUserTool *user_tools;
	int			n_user_tools;
	int			max_steps;
	int			max_repairs;
	int			max_output_tokens;
	int			thinking_budget;
	const char *reasoning_effort;
	bool		finish_when_recorded;	/* end without another call once all "one" outputs are in */
	const long long *event_ids;	/* ids of the conversation's events, ascending */
	int			n_event_ids;
} PaAgentSpec;

typedef enum PaSmAction
{
	PA_SM_CALL_MODEL,
	PA_SM_RUN_TOOLS,
	PA_SM_DONE
} PaSmAction;

/*
 * The parameters of record_<output> for an output that needs evidence:
 * {"object": <its schema>, "evidence": [event ids, at least one]}, with
 * the schema's $defs / definitions moved up to the wrapper so that its
 * "#/$defs/..." references still resolve. New reference.
 */
extern json_t *pa_evidence_parameters(json_t *object_schema);

extern json_t *pa_sm_start(const PaAgentSpec *spec, const char *first_user_text);

/* Fills *req (borrowing from spec and state) when returning PA_SM_CALL_MODEL. */
extern PaSmAction pa_sm_next(const PaAgentSpec *spec, json_t *state, PaModelRequest *req);

extern void pa_sm_model_response(const PaAgentSpec *spec, json_t *state, json_t *response);

/* Borrowed array of {"id", "name", "arguments"} to run now. */
extern json_t *pa_sm_pending(json_t *state);

extern void pa_sm_tool_result(const PaAgentSpec *spec, json_t *state, const char *id,
							  const char *content, bool is_error);

/* End the run as failed (deadline, transport error, cancellation, ...). */
extern void pa_sm_fail(json_t *state, const char *code, const char *message, json_t *detail);

#endif							/* PA_AGENT_H */
