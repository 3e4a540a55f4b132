/*
 * tools.h — running the tools an agent calls (SQL today; HTTP and agent
 * tools plug into pa_run_tool's dispatch).
 */
#ifndef PA_TOOLS_H
#define PA_TOOLS_H

#include "pa_json.h"
#include "http.h"

/*
 * Run one tool call. tool: the tool's definition ({"name", "kind",
 * "signature", "args", "timeout_ms"}); arguments: already validated against
 * its parameters. Returns palloc'd text for the model; *is_error when the
 * tool failed (the run goes on: the model sees the error).
 */
/* deadline_ms: what is left of the run; the tool's own timeout is capped by it */
extern char *pa_run_tool(Oid owner, json_t *tool, json_t *arguments, long deadline_ms,
						 bool *is_error);

/* An HTTP tool call in pieces, for the worker's event loop. */
extern void pa_http_tool_request(json_t *tool, json_t *arguments, long timeout_ms,
								 const char *idempotency_key, PaHttpRequest *req);
extern char *pa_http_tool_result(PaHttpResponse *resp, bool *is_error);

/* "sha256=<hex of HMAC-SHA256(secret, body)>" */
extern char *pa_hmac_signature(const char *secret, const char *body);

#endif							/* PA_TOOLS_H */
