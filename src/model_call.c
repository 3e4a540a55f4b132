/*
 * model_call.c — one model call of a run: build the provider's request,
 * POST it (retrying rate limits and transient failures within the run's
 * deadline), parse the answer, account usage and cost, write the step.
 */
#include "pg_prelude.h"

#include "catalog/pg_type.h"
#include "utils/timestamp.h"
#include "common/pg_prng.h"
#include "storage/latch.h"
#include "utils/wait_event.h"

#include "jsonb_jansson.h"
#include "ledger.h"
#include "progress.h"
#include "stream.h"
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
		return true;			/* transport failures: refused, reset, timed out */
	return pa_retry_status_retryable(r->status);
}

/*
 * How long to wait before attempt+1: exponential backoff with jitter,
 * retry-after when the provider gave one, and rate-limit resets for 429s
 * (on other answers those headers describe the window, not this request).
 */
static long
retry_wait_ms(const PaHttpResponse *r, int attempt)
{
	PaRetryHints h = r->retry;

	if (r->status != 429)
		h.reset_s = -1;
	return (long) (pa_retry_delay_s(attempt, &h, 0.5, 30.0,
									pg_prng_double(&pg_global_prng_state)) * 1000.0);
}

/* Streaming: the body goes to the SSE reader as it arrives. */
static bool
stream_data(void *arg, const char *data, size_t len, char **stream_error)
{
	PaStreamProgress p;

	/* The whole stream is bounded like a plain body. */
	pa_stream_progress((PaStream *) arg, &p);
	if ((size_t) p.bytes + len > (size_t) pa_max_response_bytes)
	{
		*stream_error = strdup("the streamed response is larger than procedural_agent.max_response_bytes");
		return false;
	}
	return pa_stream_feed((PaStream *) arg, data, len, stream_error) == 0;
}

/* Between waits: publish how far the call has got. */
static void
stream_tick(void *arg)
{
	PaStreamProgress p;

	pa_stream_progress((PaStream *) arg, &p);
	pa_progress_update(p.bytes, p.events, p.output_tokens, p.thinking_chars, p.tokens_reported);
}

/*
 * Long calls stream: a model thinking for minutes then keeps the
 * connection busy (proxies and load balancers drop idle ones), and its
 * progress is visible while it runs.
 */
static bool
should_stream(const PaModelRequest *req)
{
	if (pa_stream_min_output_tokens < 0)
		return false;
	return req->max_output_tokens >= pa_stream_min_output_tokens || req->thinking_budget > 0;
}

/* One POST of the request; the neutral response, or NULL and *failure. */
static json_t *
post_once(RunContext *rc, PaHttpRequest *hr, PaHttpResponse *resp, bool stream, char **failure)
{
	bool		openai = strcmp(rc->kind, "openai") == 0;
	PaStream   *volatile ps = NULL;
	json_t	   *response = NULL;
	char	   *err = NULL;

	if (stream)
	{
		ps = pa_stream_new(rc->kind, (size_t) pa_max_response_bytes);
		if (ps == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory for a response stream")));
		hr->on_data = stream_data;
		hr->on_tick = stream_tick;
		hr->arg = ps;
		hr->idle_timeout_ms = pa_stream_idle_timeout_s * 1000L;
	}
	PG_TRY();
	{
		pa_http_post(hr, resp);
		/* Closed after the final event without the chunked terminator: whole. */
		if (resp->error && stream && resp->event_stream && pa_stream_done(ps))
			resp->error = NULL;
		if (resp->error == NULL && resp->status >= 200 && resp->status < 300)
		{
			if (stream && resp->event_stream)
			{
				response = pa_stream_finish(ps, &err);
				/* cut short before its final event: a transport failure, retryable */
				if (response == NULL && !pa_stream_done(ps))
					resp->error = pa_take_string(err);
			}
			else				/* a server may answer plain JSON to a stream request */
				response = openai ? pa_openai_parse_response(resp->body.data, resp->body.len, &err)
					: pa_anthropic_parse_response(resp->body.data, resp->body.len, &err);
			if (response == NULL && resp->error == NULL)
				*failure = psprintf("invalid response from the model: %s", pa_take_string(err));
		}
		if (resp->error)
			*failure = psprintf("model call failed: %s", resp->error);
		else if (response == NULL && *failure == NULL)
			*failure = pa_take_string(openai ? pa_openai_error_message(resp->status, resp->body.data, resp->body.len)
									  : pa_anthropic_error_message(resp->status, resp->body.data, resp->body.len));
	}
	PG_FINALLY();
	{
		if (ps)
			pa_stream_free(ps);
	}
	PG_END_TRY();
	return response;
}

/* One model call (with retries); false and the run failed on error. */
bool
pa_run_call_model(RunContext *rc, json_t *state, PaModelRequest *req)
{
	json_t	   *provider = json_object_get(rc->def, "provider");
	json_t	   *options = json_object_get(provider, "options");
	bool		openai = strcmp(rc->kind, "openai") == 0;
	bool		stream;
	char	   *err = NULL;
	char	   *body;
	int			max_retries = json_is_integer(json_object_get(options, "max_retries")) ?
		(int) json_integer_value(json_object_get(options, "max_retries")) : 2;
	PaHttpRequest hr = {0};
	PaHttpResponse resp = {0};
	json_t	   *volatile response = NULL;
	json_t	   *summary;
	volatile int attempt;
	char	   *failure = NULL;

	req->stream = stream = should_stream(req);
	body = openai ? pa_openai_build_request(req, &err) : pa_anthropic_build_request(req, &err);
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
	hr.connect_timeout_ms = json_is_integer(json_object_get(options, "connect_timeout_ms")) ?
		(long) json_integer_value(json_object_get(options, "connect_timeout_ms")) : 10000;
	hr.max_response_bytes = (size_t) pa_max_response_bytes;
	summary = json_pack("{s:s, s:i, s:I, s:b}", "model", req->model,
						"messages", (int) json_array_size(req->messages),
						"tools", (json_int_t) json_array_size(req->tools), "stream", stream);

	pa_progress_begin(rc->run_id, rc->owner, rc->agent_name, req->model, stream);
	PG_TRY();
	{
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
			failure = NULL;
			response = post_once(rc, &hr, &resp, stream, &failure);
			if (response != NULL)
				break;
			if (attempt < max_retries && retryable(&resp))
			{
				long		wait = retry_wait_ms(&resp, attempt);

				pa_ledger_step(rc->run_id, ++rc->ledger_steps, "model", "retry", resp.elapsed_ms,
							   resp.status, NULL, 0, summary, NULL, failure);
				if (wait < pa_run_remaining_ms(rc))
				{
					pause_ms(wait);
					continue;
				}
			}
			pa_sm_fail(state, resp.timed_out ? "timeout" : "model_error", failure, NULL);
			break;
		}
	}
	PG_FINALLY();
	{
		pa_progress_end();
		curl_slist_free_all(hr.headers);
		free(body);
	}
	PG_END_TRY();

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
					   req->tools ? "model" : "plan", NULL, resp.elapsed_ms, resp.status, &u, cost,
					   summary, response, NULL);
		pa_sm_model_response(&rc->spec, state, response);
		json_decref(response);
	}
	else
		pa_ledger_step(rc->run_id, ++rc->ledger_steps,
					   "model", NULL, resp.elapsed_ms, resp.status, NULL, 0, summary, NULL, failure);
	json_decref(summary);
	return response != NULL;
}
