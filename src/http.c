/*
 * http.c — the libcurl layer (see http.h for the contract).
 */
#include "pg_prelude.h"

#include <math.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "portability/instr_time.h"
#include "utils/memutils.h"

#include "http.h"
#include "http_int.h"

/* One multi handle per backend: its connection cache outlives calls. */
static CURLM *backend_multi = NULL;

void
pa_http_global_init(void)
{
	static bool done = false;

	if (!done)
	{
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			ereport(ERROR,
					(errcode(ERRCODE_SYSTEM_ERROR),
					 errmsg("could not initialize libcurl")));
		done = true;
	}
}

static CURLM *
multi_handle(void)
{
	if (backend_multi == NULL)
	{
		pa_http_global_init();
		backend_multi = curl_multi_init();
		if (backend_multi == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("could not create a libcurl multi handle")));
	}
	return backend_multi;
}

static size_t
on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	PaHttpTransfer *t = (PaHttpTransfer *) arg;
	size_t		n = size * nmemb;
	long		status = 0;

	INSTR_TIME_SET_CURRENT(t->last_activity);
	if (t->req->on_data && t->resp->event_stream)
	{
		curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
		if (status >= 200 && status < 300)
			return t->req->on_data(t->req->arg, data, n, &t->stream_error) ? n : 0;
	}
	if (t->resp->body.len + n > t->max_bytes)
	{
		t->resp->truncated = true;
		return 0;				/* aborts the transfer with CURLE_WRITE_ERROR */
	}
	appendBinaryStringInfo(&t->resp->body, data, n);
	return n;
}

/* Case-insensitive "name:" prefix; returns the trimmed value or NULL. */
static char *
header_value(const char *line, size_t len, const char *name)
{
	size_t		nl = strlen(name);
	const char *v;
	const char *end = line + len;

	if (len <= nl || pg_strncasecmp(line, name, nl) != 0 || line[nl] != ':')
		return NULL;
	v = line + nl + 1;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
		end--;
	return pnstrdup(v, end - v);
}

static size_t
on_header(char *line, size_t size, size_t nmemb, void *arg)
{
	PaHttpTransfer *t = (PaHttpTransfer *) arg;
	size_t		n = size * nmemb;
	char	   *v;
	const char *colon = memchr(line, ':', n);

	/* the worker's loop runs libcurl outside any request's context */
	MemoryContext old = MemoryContextSwitchTo(t->mcxt);

	/* retry-after(-ms) and the providers' rate-limit reset headers */
	if (colon)
		pa_retry_header(&t->resp->retry, line, colon - line, colon + 1,
						n - (colon + 1 - line), (double) time(NULL));
	if ((v = header_value(line, n, "content-type")) != NULL)
		t->resp->event_stream = pg_strncasecmp(v, "text/event-stream", 17) == 0;
	else if ((v = header_value(line, n, "request-id")) != NULL ||
			 (v = header_value(line, n, "x-request-id")) != NULL)
		t->resp->request_id = v;
	MemoryContextSwitchTo(old);
	return n;
}

/* Loopback, private, link-local, unspecified or CGNAT: not for tools. */
static bool
private_address(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
	{
		uint32_t	a = ntohl(((const struct sockaddr_in *) sa)->sin_addr.s_addr);

		return (a >> 24) == 127 || (a >> 24) == 10 || (a >> 24) == 0 ||
			(a >> 20) == (172 << 4 | 1) || (a >> 16) == (192 << 8 | 168) ||
			(a >> 16) == (169 << 8 | 254) || (a >> 22) == (100 << 2 | 1);
	}
	if (sa->sa_family == AF_INET6)
	{
		const unsigned char *b = ((const struct sockaddr_in6 *) sa)->sin6_addr.s6_addr;
		static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
		static const unsigned char zero[15] = {0};

		if (memcmp(b, v4mapped, 12) == 0)
		{
			struct sockaddr_in v4 = {0};

			v4.sin_family = AF_INET;
			memcpy(&v4.sin_addr, b + 12, 4);
			return private_address((const struct sockaddr *) &v4);
		}
		return memcmp(b, zero, 15) == 0 ||	/* :: and ::1 */
			(b[0] & 0xfe) == 0xfc ||	/* fc00::/7 */
			(b[0] == 0xfe && (b[1] & 0xc0) == 0x80);	/* fe80::/10 */
	}
	return true;
}

/*
 * Runs before each request is sent, on new and reused connections alike:
 * the address actually connected to is checked, so DNS tricks and pooled
 * connections get the same verdict.
 */
static int
before_request(void *arg, char *primary_ip, char *local_ip, int primary_port, int local_port)
{
	PaHttpTransfer *t = (PaHttpTransfer *) arg;
	struct sockaddr_in v4 = {0};
	struct sockaddr_in6 v6 = {0};
	bool		deny;

	if (!t->req->deny_private)
		return CURL_PREREQFUNC_OK;
	if (inet_pton(AF_INET, primary_ip, &v4.sin_addr) == 1)
	{
		v4.sin_family = AF_INET;
		deny = private_address((struct sockaddr *) &v4);
	}
	else if (inet_pton(AF_INET6, primary_ip, &v6.sin6_addr) == 1)
	{
		v6.sin6_family = AF_INET6;
		deny = private_address((struct sockaddr *) &v6);
	}
	else
		deny = true;
	if (deny)
	{
		t->denied = true;
		return CURL_PREREQFUNC_ABORT;
	}
	return CURL_PREREQFUNC_OK;
}

#define SETOPT(h, opt, val) \
	do { \
		CURLcode	rc_ = curl_easy_setopt((h), (opt), (val)); \
		if (rc_ != CURLE_OK) \
			ereport(ERROR, \
					(errcode(ERRCODE_INTERNAL_ERROR), \
					 errmsg("could not set libcurl option %s: %s", #opt, \
							curl_easy_strerror(rc_)))); \
	} while (0)

struct curl_slist *
pa_http_header(struct curl_slist *list, const char *name, const char *value)
{
	char	   *line = psprintf("%s: %s", name, value);
	struct curl_slist *l = curl_slist_append(list, line);

	pfree(line);
	if (l == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory building HTTP headers")));
	return l;
}

/*
 * A transfer ready to be added to a multi handle: the easy handle with
 * every option set, the response initialised. palloc'd in the current
 * memory context, like the response body.
 */
PaHttpTransfer *
pa_http_transfer_new(const PaHttpRequest *req, PaHttpResponse *resp)
{
	PaHttpTransfer *t = palloc0(sizeof(PaHttpTransfer));
	CURL	   *easy;

	t->mcxt = CurrentMemoryContext;

	memset(resp, 0, sizeof(*resp));
	initStringInfo(&resp->body);
	pa_retry_hints_init(&resp->retry);
	t->resp = resp;
	t->max_bytes = req->max_response_bytes;
	t->req = req;

	pa_http_global_init();
	easy = curl_easy_init();
	if (easy == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not create a libcurl handle")));
	t->easy = easy;
	PG_TRY();
	{
		SETOPT(easy, CURLOPT_URL, req->url);
		SETOPT(easy, CURLOPT_POST, 1L);
		SETOPT(easy, CURLOPT_POSTFIELDS, req->body);
		SETOPT(easy, CURLOPT_POSTFIELDSIZE, (long) strlen(req->body));
		SETOPT(easy, CURLOPT_HTTPHEADER, req->headers);
		SETOPT(easy, CURLOPT_CONNECTTIMEOUT_MS, req->connect_timeout_ms);
		SETOPT(easy, CURLOPT_TIMEOUT_MS, req->timeout_ms);
		SETOPT(easy, CURLOPT_WRITEFUNCTION, on_body);
		SETOPT(easy, CURLOPT_WRITEDATA, t);
		SETOPT(easy, CURLOPT_HEADERFUNCTION, on_header);
		SETOPT(easy, CURLOPT_HEADERDATA, t);
		SETOPT(easy, CURLOPT_ERRORBUFFER, t->errbuf);
		SETOPT(easy, CURLOPT_NOSIGNAL, 1L);
		SETOPT(easy, CURLOPT_PROTOCOLS_STR, "http,https");
		SETOPT(easy, CURLOPT_FOLLOWLOCATION, 0L);
		SETOPT(easy, CURLOPT_USERAGENT, "procedural_agent/0.1");
		SETOPT(easy, CURLOPT_ACCEPT_ENCODING, "");
		SETOPT(easy, CURLOPT_PREREQFUNCTION, before_request);
		SETOPT(easy, CURLOPT_PREREQDATA, t);
		SETOPT(easy, CURLOPT_PRIVATE, t);
	}
	PG_CATCH();
	{
		curl_easy_cleanup(easy);
		PG_RE_THROW();
	}
	PG_END_TRY();
	INSTR_TIME_SET_CURRENT(t->start);
	t->last_activity = t->start;
	return t;
}

/* Nothing arrived for longer than the request allows: give up on it. */
bool
pa_http_transfer_idle(PaHttpTransfer *t)
{
	instr_time	idle;
	MemoryContext old;

	if (t->req->idle_timeout_ms <= 0)
		return false;
	INSTR_TIME_SET_CURRENT(idle);
	INSTR_TIME_SUBTRACT(idle, t->last_activity);
	if (INSTR_TIME_GET_MILLISEC(idle) <= t->req->idle_timeout_ms)
		return false;
	old = MemoryContextSwitchTo(t->mcxt);
	t->resp->timed_out = true;
	t->resp->error = psprintf("nothing received for %ld ms: the stream stalled",
							  t->req->idle_timeout_ms);
	MemoryContextSwitchTo(old);
	return true;
}

/*
 * The transfer is over (result from libcurl, or CURLE_OK when we stopped
 * it ourselves with resp->error set): status, error text, elapsed time.
 * The easy handle must already be out of its multi handle; it is freed.
 */
void
pa_http_transfer_conclude(PaHttpTransfer *t, CURLcode result)
{
	PaHttpResponse *resp = t->resp;
	instr_time	now;
	MemoryContext old = MemoryContextSwitchTo(t->mcxt);

	curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &resp->status);
	if (resp->error == NULL && result != CURLE_OK)
	{
		if (t->denied)
			resp->error = pstrdup("the address is loopback, private or link-local, which "
								  "procedural_agent.http_tool_allow_private does not allow");
		else if (result == CURLE_WRITE_ERROR && t->stream_error)
			resp->error = pstrdup(t->stream_error);
		else if (result == CURLE_WRITE_ERROR && resp->truncated)
			resp->error = psprintf("response larger than %zu bytes", t->max_bytes);
		else
		{
			resp->timed_out = (result == CURLE_OPERATION_TIMEDOUT);
			resp->error = psprintf("%s%s%s", curl_easy_strerror(result),
								   t->errbuf[0] ? ": " : "", t->errbuf);
		}
	}
	pa_http_transfer_free(t);
	INSTR_TIME_SET_CURRENT(now);
	INSTR_TIME_SUBTRACT(now, t->start);
	resp->elapsed_ms = INSTR_TIME_GET_MILLISEC(now);
	MemoryContextSwitchTo(old);
}

/* Free the easy handle (already out of its multi handle); idempotent. */
void
pa_http_transfer_free(PaHttpTransfer *t)
{
	if (t->easy)
		curl_easy_cleanup(t->easy);
	t->easy = NULL;
	free(t->stream_error);
	t->stream_error = NULL;
}

void
pa_http_post(const PaHttpRequest *req, PaHttpResponse *resp)
{
	CURLM	   *multi = multi_handle();
	PaHttpTransfer *t = pa_http_transfer_new(req, resp);
	volatile bool added = false;
	CURLcode	result = CURLE_OK;

	PG_TRY();
	{
		int			running = 1;
		CURLMsg    *msg;
		int			left;

		if (curl_multi_add_handle(multi, t->easy) != CURLM_OK)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not add a transfer to the libcurl multi handle")));
		added = true;

		while (running)
		{
			CURLMcode	mc = curl_multi_perform(multi, &running);

			if (mc != CURLM_OK)
				ereport(ERROR,
						(errcode(ERRCODE_INTERNAL_ERROR),
						 errmsg("libcurl multi perform failed: %s", curl_multi_strerror(mc))));
			if (!running)
				break;
			/* Wake at least every 100 ms to notice cancellation. */
			mc = curl_multi_poll(multi, NULL, 0, 100, NULL);
			if (mc != CURLM_OK)
				ereport(ERROR,
						(errcode(ERRCODE_INTERNAL_ERROR),
						 errmsg("libcurl multi poll failed: %s", curl_multi_strerror(mc))));
			CHECK_FOR_INTERRUPTS();
			if (req->on_tick)
				req->on_tick(req->arg);

			/*
			 * Our own idle timeout: libcurl's low-speed limit averages over
			 * several seconds, so a stalled stream would linger.
			 */
			if (pa_http_transfer_idle(t))
				break;
		}

		while ((msg = curl_multi_info_read(multi, &left)) != NULL)
			if (msg->msg == CURLMSG_DONE && msg->easy_handle == t->easy)
				result = msg->data.result;
	}
	PG_CATCH();
	{
		if (added)
			curl_multi_remove_handle(multi, t->easy);
		pa_http_transfer_free(t);
		PG_RE_THROW();
	}
	PG_END_TRY();
	curl_multi_remove_handle(multi, t->easy);
	pa_http_transfer_conclude(t, result);
}
