/*
 * retry_unit.c — the retry arithmetic (src/retry.c) outside the server:
 * every header form, well and badly formed, which statuses are retried, and
 * the delays. Headers are fed from exact-size malloc'd copies without a NUL,
 * so ASan and valgrind catch any read past a value's or a name's end.
 *
 * Built and run by test/unit/Makefile.retry. Prints each failure; ends with
 * "N passed, N failed"; exit status 1 if any failed.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "retry.h"

static int	passed,
			failed;

#define NOW 784111777.0			/* Sun, 06 Nov 1994 08:49:37 GMT */
#define NOW2 1795481112.0		/* 2026-11-24T00:45:12Z */

static void
check_num(double got, double want, int line, const char *what)
{
	if (fabs(got - want) <= 1e-9 * fmax(1, fabs(want)))
		passed++;
	else
	{
		failed++;
		printf("FAIL %s: got %.12g, want %.12g (line %d)\n", what, got, want, line);
	}
}

#define CHECK_NUM(got, want, what) check_num((got), (want), __LINE__, (what))
#define CHECK(cond, what) check_num((cond) ? 1 : 0, 1, __LINE__, (what))

static void
feed(PaRetryHints *h, const char *name, const char *value, double now)
{
	size_t		nl = strlen(name),
				vl = strlen(value);
	char	   *n = malloc(nl ? nl : 1),
			   *v = malloc(vl ? vl : 1);

	memcpy(n, name, nl);
	memcpy(v, value, vl);
	pa_retry_header(h, n, nl, v, vl, now);
	free(n);
	free(v);
}

/* One header on fresh hints; the field it lands in (-1 = ignored). */
static double
one(const char *name, const char *value, double now, int reset)
{
	PaRetryHints h;

	pa_retry_hints_init(&h);
	feed(&h, name, value, now);
	if (reset ? h.retry_after_s != -1 : h.reset_s != -1)
		return -99;				/* landed in the wrong field */
	return reset ? h.reset_s : h.retry_after_s;
}

typedef struct
{
	const char *name;
	const char *value;
	double		now;
	int			reset;			/* 1: expect it in reset_s */
	double		want;			/* -1: ignored */
} Case;

static const Case cases[] = {
	/* retry-after: delta seconds */
	{"retry-after", "120", NOW, 0, 120}, {"retry-after", " 7 \r\n", NOW, 0, 7},
	{"retry-after", "1.5", NOW, 0, 1.5}, {"retry-after", "0", NOW, 0, 0},
	{"Retry-After", "3", NOW, 0, 3}, {"RETRY-AFTER", "4", NOW, 0, 4},
	{" retry-after\t", "5", NOW, 0, 5},
	{"retry-after", "-3", NOW, 0, -1}, {"retry-after", "abc", NOW, 0, -1},
	{"retry-after", "", NOW, 0, -1}, {"retry-after", "12abc", NOW, 0, -1},
	{"retry-after", "1e3", NOW, 0, -1}, {"retry-after", ".", NOW, 0, -1},
	{"retry-after", "0x10", NOW, 0, -1}, {"retry-after", "inf", NOW, 0, -1},
	{"retry-after", "nan", NOW, 0, -1}, {"retry-after", "1 2", NOW, 0, -1},
	/* retry-after: HTTP-date, three forms */
	{"retry-after", "Sun, 06 Nov 1994 08:50:07 GMT", NOW, 0, 30},
	{"retry-after", "sun, 06 nov 1994 08:50:07 gmt", NOW, 0, 30},
	{"retry-after", "Sunday, 06-Nov-94 08:49:47 GMT", NOW, 0, 10},
	{"retry-after", "Sun Nov  6 08:49:57 1994", NOW, 0, 20},
	{"retry-after", "Tuesday, 24-Nov-26 00:45:22 GMT", NOW2, 0, 10},
	{"retry-after", "Tuesday, 24-Nov-99 00:45:22 GMT", NOW2, 0, 0},	/* 1999 */
	{"retry-after", "Mon, 07 Nov 1994 08:49:37 GMT", NOW, 0, 86400},
	{"retry-after", "Sun, 06 Nov 1994 08:00:00 GMT", NOW, 0, 0},	/* past */
	{"retry-after", "Thu, 29 Feb 2024 12:00:00 GMT", 1709208000.0 - 9, 0, 9},
	{"retry-after", "Wed, 29 Feb 2023 12:00:00 GMT", NOW, 0, -1},
	{"retry-after", "Sun, 31 Nov 1994 08:50:07 GMT", NOW, 0, -1},
	{"retry-after", "Sun, 06 Foo 1994 08:50:07 GMT", NOW, 0, -1},
	{"retry-after", "Sun, 06 Nov 1994 24:00:00 GMT", NOW, 0, -1},
	{"retry-after", "Sun, 06 Nov 1994 08:50:07", NOW, 0, -1},
	{"retry-after", "Sun, 06 Nov 1994 08:50:07 UTC", NOW, 0, -1},
	{"retry-after", "Sun, 6 Nov 1994 08:50:07 GMT", NOW, 0, -1},
	{"retry-after", "Sun, 06 Nov 1994 08:50 GMT", NOW, 0, -1},
	{"retry-after", "Sun, 06 Nov 1994 08:50:07 GMTx", NOW, 0, -1},
	{"retry-after", "Sun Nov  6 08:49:57 1994 x", NOW, 0, -1},
	{"retry-after", "Sun, 06 Nov 1994 08:50:07 GMT", NAN, 0, -1},	/* no now */
	/* retry-after-ms */
	{"retry-after-ms", "250", NOW, 0, 0.25}, {"Retry-After-Ms", "1500.5", NOW, 0, 1.5005},
	{"retry-after-ms", "x", NOW, 0, -1}, {"retry-after-ms", "-5", NOW, 0, -1},
	{"retry-after-ms", "Sun, 06 Nov 1994 08:50:07 GMT", NOW, 0, -1},
	/* names near the known ones */
	{"retry-afterx", "5", NOW, 0, -1}, {"x-retry-after", "5", NOW, 0, -1},
	{"retry-after-m", "5", NOW, 0, -1}, {"retry", "5", NOW, 0, -1},
	{"", "5", NOW, 0, -1}, {"x-ratelimit-reset", "1s", NOW, 1, -1},
	/* OpenAI: Go durations */
	{"x-ratelimit-reset-requests", "1s", NOW, 1, 1},
	{"x-ratelimit-reset-tokens", "6m0s", NOW, 1, 360},
	{"x-ratelimit-reset-tokens", "20ms", NOW, 1, 0.02},
	{"x-ratelimit-reset-tokens", "1h2m3.5s", NOW, 1, 3723.5},
	{"x-ratelimit-reset-tokens", "0.5s", NOW, 1, 0.5},
	{"x-ratelimit-reset-tokens", ".5s", NOW, 1, 0.5},
	{"x-ratelimit-reset-tokens", "1.5m", NOW, 1, 90},
	{"x-ratelimit-reset-tokens", "0", NOW, 1, 0},
	{"x-ratelimit-reset-tokens", "+2s", NOW, 1, 2},
	{"x-ratelimit-reset-tokens", "1000ns", NOW, 1, 1e-6},
	{"x-ratelimit-reset-tokens", "250us", NOW, 1, 250e-6},
	{"x-ratelimit-reset-tokens", "250\xc2\xb5s", NOW, 1, 250e-6},
	{"x-ratelimit-reset-tokens", "250\xce\xbcs", NOW, 1, 250e-6},
	{"X-RateLimit-Reset-Requests", " 2s ", NOW, 1, 2},
	{"x-ratelimit-reset-tokens", "", NOW, 1, -1},
	{"x-ratelimit-reset-tokens", "s", NOW, 1, -1},
	{"x-ratelimit-reset-tokens", "1", NOW, 1, -1},
	{"x-ratelimit-reset-tokens", "1x", NOW, 1, -1},
	{"x-ratelimit-reset-tokens", "-1s", NOW, 1, -1},
	{"x-ratelimit-reset-tokens", "1s2", NOW, 1, -1},
	{"x-ratelimit-reset-tokens", "1..5s", NOW, 1, -1},
	{"x-ratelimit-reset-tokens", ".s", NOW, 1, -1},
	{"x-ratelimit-reset-tokens", "1S", NOW, 1, -1},
	{"x-ratelimit-reset-tokens", "1 s", NOW, 1, -1},
	{"x-ratelimit-reset-tokens", "00", NOW, 1, -1},
	/* Anthropic: RFC 3339 */
	{"anthropic-ratelimit-requests-reset", "2026-11-24T00:45:12Z", NOW2 - 60, 1, 60},
	{"anthropic-ratelimit-tokens-reset", "2026-11-24T00:45:12Z", NOW2, 1, 0},
	{"anthropic-ratelimit-input-tokens-reset", "2026-11-24T00:46:12.25Z", NOW2, 1, 60.25},
	{"anthropic-ratelimit-output-tokens-reset", "2026-11-24t00:45:22z", NOW2, 1, 10},
	{"Anthropic-RateLimit-Tokens-Reset", "2026-11-24 00:45:13Z", NOW2, 1, 1},
	{"anthropic-ratelimit-tokens-reset", "2026-11-24T01:46:12+01:00", NOW2, 1, 60},
	{"anthropic-ratelimit-tokens-reset", "2026-11-23T19:15:42.5-05:30", NOW2, 1, 30.5},
	{"anthropic-ratelimit-tokens-reset", "2026-11-24T00:45:12.000001Z", NOW2, 1, 1e-6},
	{"anthropic-ratelimit-tokens-reset", "2026-11-24T00:44:12Z", NOW2, 1, 0},	/* past */
	{"anthropic-ratelimit-tokens-reset", "2024-02-29T12:00:00Z", 1709208000.0 - 5, 1, 5},
	{"anthropic-ratelimit-tokens-reset", "2023-02-29T12:00:00Z", NOW2, 1, -1},
	{"anthropic-ratelimit-tokens-reset", "2026-13-01T00:00:00Z", NOW2, 1, -1},
	{"anthropic-ratelimit-tokens-reset", "2026-11-31T00:00:00Z", NOW2, 1, -1},
	{"anthropic-ratelimit-tokens-reset", "2026-11-24T25:00:00Z", NOW2, 1, -1},
	{"anthropic-ratelimit-tokens-reset", "2026-11-24T00:60:00Z", NOW2, 1, -1},
	{"anthropic-ratelimit-tokens-reset", "2026-11-24T00:45:12", NOW2, 1, -1},
	{"anthropic-ratelimit-tokens-reset", "2026-11-24T00:45:12+0100", NOW2, 1, -1},
	{"anthropic-ratelimit-tokens-reset", "2026-11-24T00:45:12+24:00", NOW2, 1, -1},
	{"anthropic-ratelimit-tokens-reset", "2026-11-24T00:45:12.Z", NOW2, 1, -1},
	{"anthropic-ratelimit-tokens-reset", "2026-11-24T00:45:12ZZ", NOW2, 1, -1},
	{"anthropic-ratelimit-tokens-reset", "2026-11-24", NOW2, 1, -1},
	{"anthropic-ratelimit-tokens-reset", "26-11-24T00:45:12Z", NOW2, 1, -1},
	{"anthropic-ratelimit-tokens-reset", "2026-11-24T00:45:12Z", INFINITY, 1, -1},
	{"anthropic-ratelimit-tokens-reset", "60", NOW2, 1, -1},
	{"anthropic-ratelimit-reset", "2026-11-24T00:45:22Z", NOW2, 1, -1},
};

static void
test_headers(void)
{
	size_t		i;
	PaRetryHints h;
	char		name[64],
				value[8];

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		char		what[160];

		snprintf(what, sizeof(what), "%s: %s", cases[i].name, cases[i].value);
		CHECK_NUM(one(cases[i].name, cases[i].value, cases[i].now, cases[i].reset),
				  cases[i].want, what);
	}

	pa_retry_hints_init(&h);
	CHECK(h.retry_after_s == -1 && h.reset_s == -1, "init: both absent");

	/* lengths, not NULs, bound names and values */
	memcpy(name, "retry-after-ms", 14);
	memcpy(value, "4299", 4);
	pa_retry_header(&h, name, 11, value, 2, NOW);
	CHECK_NUM(h.retry_after_s, 42, "name and value cut by their lengths");

	/* the largest of each wins, in any order */
	pa_retry_hints_init(&h);
	feed(&h, "retry-after-ms", "2500", NOW);
	feed(&h, "retry-after", "2", NOW);
	CHECK_NUM(h.retry_after_s, 2.5, "largest retry-after (ms first)");
	feed(&h, "retry-after", "Sun, 06 Nov 1994 08:49:40 GMT", NOW);
	CHECK_NUM(h.retry_after_s, 3, "largest retry-after (date last)");
	feed(&h, "retry-after", "garbage", NOW);
	CHECK_NUM(h.retry_after_s, 3, "garbage leaves retry-after alone");
	CHECK_NUM(h.reset_s, -1, "retry-after leaves reset alone");

	pa_retry_hints_init(&h);
	feed(&h, "x-ratelimit-reset-tokens", "6m0s", NOW2);
	feed(&h, "x-ratelimit-reset-requests", "1s", NOW2);
	CHECK_NUM(h.reset_s, 360, "largest reset: later smaller one ignored");
	feed(&h, "anthropic-ratelimit-tokens-reset", "2026-11-24T00:51:52Z", NOW2);
	CHECK_NUM(h.reset_s, 400, "largest reset: later larger one wins");
	feed(&h, "anthropic-ratelimit-requests-reset", "2026-11-24T00:45:13Z", NOW2);
	feed(&h, "x-ratelimit-reset-tokens", "bogus", NOW2);
	CHECK_NUM(h.reset_s, 400, "largest reset: kept through smaller and garbage");
	CHECK_NUM(h.retry_after_s, -1, "resets leave retry-after alone");

	/* NULLs are ignored */
	pa_retry_header(NULL, "retry-after", 11, "5", 1, NOW);
	pa_retry_header(&h, NULL, 0, "5", 1, NOW);
	pa_retry_header(&h, "retry-after", 11, NULL, 0, NOW);
	CHECK_NUM(h.retry_after_s, -1, "NULL arguments ignored");
}

static void
test_status(void)
{
	static const long yes[] = {408, 429, 500, 502, 503, 504, 529};
	static const long no[] = {0, -1, 200, 201, 204, 301, 304, 400, 401, 403, 404, 405,
	409, 410, 413, 415, 422, 451, 499, 501, 505, 511, 520, 599, 600};
	size_t		i;
	char		what[64];

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
	{
		snprintf(what, sizeof(what), "status %ld retryable", yes[i]);
		CHECK(pa_retry_status_retryable(yes[i]), what);
	}
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++)
	{
		snprintf(what, sizeof(what), "status %ld not retryable", no[i]);
		CHECK(!pa_retry_status_retryable(no[i]), what);
	}
}

static void
test_delays(void)
{
	/* base 0.5, cap 30: 0.5 * 2^k capped, times 0.5 (jitter 0) or 0.9995 */
	static const double raw[11] = {0.5, 1, 2, 4, 8, 16, 30, 30, 30, 30, 30};
	PaRetryHints h;
	int			k;
	char		what[96];

	for (k = 0; k <= 10; k++)
	{
		snprintf(what, sizeof(what), "attempt %d, jitter 0", k);
		CHECK_NUM(pa_retry_delay_s(k, NULL, 0.5, 30, 0), raw[k] * 0.5, what);
		snprintf(what, sizeof(what), "attempt %d, jitter 0.999", k);
		CHECK_NUM(pa_retry_delay_s(k, NULL, 0.5, 30, 0.999), raw[k] * 0.9995, what);
		CHECK(pa_retry_delay_s(k, NULL, 0.5, 30, 0.999) <= 30, "never above the cap");
	}
	pa_retry_hints_init(&h);
	CHECK_NUM(pa_retry_delay_s(3, &h, 0.5, 30, 0), 2, "empty hints: backoff");
	CHECK_NUM(pa_retry_delay_s(5000, NULL, 0.5, 30, 0), 15, "huge attempt: cap");
	CHECK_NUM(pa_retry_delay_s(2000000000, NULL, 0.5, 30, 0.999), 29.985, "INT-ish attempt: cap");
	CHECK_NUM(pa_retry_delay_s(-3, NULL, 0.5, 30, 0), 0.25, "negative attempt: 0");
	CHECK_NUM(pa_retry_delay_s(2, NULL, 1, 30, NAN), 2, "NaN jitter: 0");
	CHECK_NUM(pa_retry_delay_s(2, NULL, 1, 30, -1), 2, "negative jitter: 0");
	CHECK_NUM(pa_retry_delay_s(2, NULL, 1, 30, 7), 4, "jitter above 1: 1");
	CHECK_NUM(pa_retry_delay_s(2, NULL, 1, 3, 0.5), 2.25, "cap before jitter");
	CHECK_NUM(pa_retry_delay_s(4, NULL, 0, 30, 0.5), 0, "base 0");
	CHECK_NUM(pa_retry_delay_s(4, NULL, -1, 30, 0.5), 0, "negative base: 0");
	CHECK_NUM(pa_retry_delay_s(4, NULL, 1, NAN, 0.5), 0, "NaN cap: 0");

	/* retry-after wins, either way, up to 10x cap */
	h.retry_after_s = 3;
	CHECK_NUM(pa_retry_delay_s(10, &h, 0.5, 30, 0.999), 3, "retry-after below backoff wins");
	CHECK_NUM(pa_retry_delay_s(0, &h, 0.5, 30, 0), 3, "retry-after above backoff wins");
	h.retry_after_s = 0;
	CHECK_NUM(pa_retry_delay_s(6, &h, 0.5, 30, 0), 0, "retry-after 0: now");
	h.retry_after_s = 100;
	CHECK_NUM(pa_retry_delay_s(0, &h, 0.5, 30, 0), 100, "retry-after above cap honoured");
	h.retry_after_s = 300;
	CHECK_NUM(pa_retry_delay_s(0, &h, 0.5, 30, 0), 300, "retry-after at 10x cap honoured");
	h.retry_after_s = 86400;
	CHECK_NUM(pa_retry_delay_s(0, &h, 0.5, 30, 0), 300, "retry-after beyond 10x cap: 10x cap");
	h.reset_s = 20;
	h.retry_after_s = 1;
	CHECK_NUM(pa_retry_delay_s(0, &h, 0.5, 30, 0), 1, "retry-after wins over reset");

	/* else a reset raises the backoff, up to the cap */
	h.retry_after_s = -1;
	h.reset_s = 5;
	CHECK_NUM(pa_retry_delay_s(0, &h, 0.5, 30, 0), 5, "reset above backoff");
	CHECK_NUM(pa_retry_delay_s(5, &h, 0.5, 30, 0.999), 15.992, "backoff above reset");
	h.reset_s = 360;
	CHECK_NUM(pa_retry_delay_s(0, &h, 0.5, 30, 0), 30, "reset above cap: cap");
	h.reset_s = 0;
	CHECK_NUM(pa_retry_delay_s(2, &h, 0.5, 30, 0), 1, "reset 0: backoff");
	h.reset_s = NAN;
	CHECK_NUM(pa_retry_delay_s(2, &h, 0.5, 30, 0), 1, "NaN reset: backoff");
}

int
main(void)
{
	test_headers();
	test_status();
	test_delays();
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
