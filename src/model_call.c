/*
 * model_call.c — one model call of a run: build the provider's request,
 * POST it (retrying rate limits and transient failures within the run's
 * deadline), parse the answer, account usage and cost, write the step.
 */
#include "pg_prelude.h"

#include "catalog/pg_type.h"
#include "utils/timestamp.h"
#include "storage/latch.h"
#include "utils/wait_event.h"

#include "jsonb_jansson.h"
#include "ledger.h"
#include "procedural_agent.h"
#include "run.h"

static double
usage_cost(RunContext *rc, const PaUsage *u)
{
	json_t	   *m = json_object_get(rc->def, "model");
	double		in = json_number_value(json_object_get(m, "input_price"));
	double		out = json_number_value(json_object_get(m, "output_price"));
	double		cached = json_number_value(json_object_get(m, "cached_input_price"));
	double		reasoning = json_number_value(json_object_get(m, "reasoning_price"));
	double		uncached;

	/* OpenAI counts cached tokens inside prompt_tokens; Anthropic apart. */
	if (strcmp(rc->kind, "openai") == 0)
		uncached = (double) (u->input_tokens - u->cached_tokens);
	else
		uncached = (double) (u->input_tokens + u->cache_creation_tokens);
	return (uncached * in + (double) u->cached_tokens * cached +
			(double) (u->output_tokens - u->reasoning_tokens) * out +
			(double) u->reasoning_tokens * reasoning) / 1e6;
}

/*
 * max_cost_usd: stop before a call whose worst case (the whole request as
 * input at ~4 bytes a token, max_output_tokens of output) could take the
 * run past the ceiling; what was spent is recorded as usual.
 */
static bool
within_cost_ceiling(RunContext *rc, json_t *state, PaModelRequest *req, const char *body)
{
	json_t	   *ceiling = json_object_get(rc->def, "max_cost_usd");
	PaUsage		worst = {0};
	double		next;
	char	   *msg;

	if (!json_is_number(ceiling))
		return true;
	worst.input_tokens = (long long) strlen(body) / 4 + 1;
	worst.output_tokens = req->max_output_tokens;
	next = usage_cost(rc, &worst);
	if (rc->cost + next <= json_number_value(ceiling))
		return true;
	msg = psprintf("the next model call could cost up to $%.6f, which would take the run past "
				   "max_cost_usd $%.6f (spent so far: $%.6f)",
				   next, json_number_value(ceiling), rc->cost);
	pa_sm_fail(state, "cost_ceiling", msg, NULL);
	return false;
}

long
pa_run_remaining_ms(RunContext *rc)
{
	long		secs;
	int			usecs;

	TimestampDifference(GetCurrentTimestamp(), rc->deadline, &secs, &usecs);
	return secs * 1000 + usecs / 1000;
}

/* Sleep interruptibly. */
static void
pause_ms(long ms)
{
	while (ms > 0)
	{
		long		slice = Min(ms, 100);

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 slice, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		ms -= slice;
	}
}

static bool
retryable(const PaHttpResponse *r)
{
	if (r->error && !r->truncated)
		return true;
	return r->status == 408 || r->status == 429 || r->status == 500 || r->status == 502 ||
		r->status == 503 || r->status == 504 || r->status == 529;
}

/* One model call (with retries); false and the run failed on error. */
bool
pa_run_call_model(RunContext *rc, json_t *state, PaModelRequest *req)
{
	json_t	   *provider = json_object_get(rc->def, "provider");
	json_t	   *options = json_object_get(provider, "options");
	bool		openai = strcmp(rc->kind, "openai") == 0;
	char	   *err = NULL;
	char	   *body = openai ? pa_openai_build_request(req, &err) : pa_anthropic_build_request(req, &err);
	int			max_retries = json_is_integer(json_object_get(options, "max_retries")) ?
		(int) json_integer_value(json_object_get(options, "max_retries")) : 2;
	PaHttpRequest hr = {0};
	PaHttpResponse resp;
	json_t	   *response = NULL;
	json_t	   *summary;
	int			attempt;
	char	   *failure = NULL;

	if (body == NULL)
	{
		pa_sm_fail(state, "request_error", pa_take_string(err), NULL);
		return false;
	}
	if (!within_cost_ceiling(rc, state, req, body))
	{
		free(body);
		return false;
	}
	hr.url = psprintf("%s%s", json_string_value(json_object_get(provider, "base_url")),
					  openai ? "/chat/completions" : "/v1/messages");
	hr.body = body;
	hr.headers = pa_http_header(NULL, "Content-Type", "application/json");
	if (openai)
	{
		if (rc->api_key)
			hr.headers = pa_http_header(hr.headers, "Authorization", psprintf("Bearer %s", rc->api_key));
	}
	else
	{
		const char *version = json_string_value(json_object_get(options, "anthropic_version"));

		if (rc->api_key)
			hr.headers = pa_http_header(hr.headers, "x-api-key", rc->api_key);
		hr.headers = pa_http_header(hr.headers, "anthropic-version", version ? version : "2023-06-01");
	}
	hr.connect_timeout_ms = json_is_integer(json_object_get(options, "connect_timeout_ms")) ?
		(long) json_integer_value(json_object_get(options, "connect_timeout_ms")) : 10000;
	hr.low_speed_time_s = 0;
	hr.max_response_bytes = (size_t) pa_max_response_bytes;

	summary = json_pack("{s:s, s:i, s:I}", "model", req->model,
						"messages", (int) json_array_size(req->messages),
						"tools", (json_int_t) json_array_size(req->tools));
	for (attempt = 0;; attempt++)
	{
		long		left = pa_run_remaining_ms(rc);
		long		provider_timeout = json_is_integer(json_object_get(options, "timeout_ms")) ?
			(long) json_integer_value(json_object_get(options, "timeout_ms")) : 600000;

		if (left <= 0)
		{
			failure = pstrdup("the run's deadline passed");
			pa_sm_fail(state, "timeout", failure, NULL);
			break;
		}
		hr.timeout_ms = Min(left, provider_timeout);
		pa_http_post(&hr, &resp);
		if (resp.error == NULL && resp.status >= 200 && resp.status < 300)
		{
			response = openai ? pa_openai_parse_response(resp.body.data, resp.body.len, &err)
				: pa_anthropic_parse_response(resp.body.data, resp.body.len, &err);
			if (response == NULL)
				failure = psprintf("invalid response from the model: %s", pa_take_string(err));
		}
		else if (resp.error)
			failure = psprintf("model call failed: %s", resp.error);
		else
			failure = pa_take_string(openai ? pa_openai_error_message(resp.status, resp.body.data, resp.body.len)
								  : pa_anthropic_error_message(resp.status, resp.body.data, resp.body.len));

		if (response != NULL)
			break;
		if (attempt < max_retries && retryable(&resp))
		{
			long		wait = resp.retry_after_s >= 0 ? (long) (resp.retry_after_s * 1000)
				: 500L << attempt;

			pa_ledger_step(rc->run_id, ++rc->ledger_steps,
						   "model", "retry", false, resp.elapsed_ms, resp.status, NULL, 0, summary, NULL, failure);
			if (wait < pa_run_remaining_ms(rc))
			{
				pause_ms(wait);
				failure = NULL;
				continue;
			}
		}
		pa_sm_fail(state, resp.timed_out ? "timeout" : "model_error", failure, NULL);
		break;
	}
	curl_slist_free_all(hr.headers);
	free(body);

	if (response)
	{
		PaUsage		u;
		double		cost;

		pa_usage_from_response(response, &u);
		cost = usage_cost(rc, &u);
		rc->usage.input_tokens += u.input_tokens;
		rc->usage.output_tokens += u.output_tokens;
		rc->usage.cached_tokens += u.cached_tokens;
		rc->usage.cache_creation_tokens += u.cache_creation_tokens;
		rc->usage.reasoning_tokens += u.reasoning_tokens;
		rc->cost += cost;
		pa_ledger_step(rc->run_id, ++rc->ledger_steps,
					   req->tools ? "model" : "plan", NULL, true, resp.elapsed_ms, resp.status, &u, cost,
					   summary, response, NULL);
		pa_sm_model_response(&rc->spec, state, response);
		json_decref(response);
	}
	else
		pa_ledger_step(rc->run_id, ++rc->ledger_steps,
					   "model", NULL, false, resp.elapsed_ms, resp.status, NULL, 0, summary, NULL, failure);
	json_decref(summary);
	return response != NULL;
}
