/*
 * retry.h — the arithmetic of retrying model and HTTP calls: which statuses
 * are worth another try, what a response's headers say about when, and how
 * long to wait. Plain C, no server headers: unit-tested outside the server
 * (test/unit/Makefile.retry) and shared by the run and the background worker.
 *
 * Typical use, per attempt:
 *
 *	pa_retry_hints_init(&h);
 *	for each response header: pa_retry_header(&h, name, nlen, value, vlen, now);
 *	if (pa_retry_status_retryable(status))
 *		wait = pa_retry_delay_s(attempt, &h, 0.5, 30.0, random in [0,1));
 */
#ifndef PA_RETRY_H
#define PA_RETRY_H

#include <stdbool.h>
#include <stddef.h>

/*
 * A retry-after is honoured up to this many times cap_s (see
 * pa_retry_delay_s); beyond that the caller waits the maximum, or, seeing
 * retry_after_s above the delay it got, may give up instead.
 */
#define PA_RETRY_AFTER_MAX_FACTOR 10

/* What the headers of one response said, in seconds from now; -1 = absent. */
typedef struct PaRetryHints
{
	double		retry_after_s;	/* retry-after, retry-after-ms: the largest */
	double		reset_s;		/* rate-limit window resets: the largest */
} PaRetryHints;

extern void pa_retry_hints_init(PaRetryHints *h);

/*
 * Feed one response header (name without the colon; value need not be
 * NUL-terminated; surrounding blanks and CR/LF are ignored). Names are
 * case-insensitive; unknown names and malformed values are ignored.
 * now_epoch_s (Unix time) turns dates into seconds from now; a date in the
 * past counts as 0; a non-finite now makes dates ignored.
 *
 *	retry-after			delta seconds (a decimal) or an HTTP-date (RFC 9110:
 *						IMF-fixdate, rfc850, asctime)
 *	retry-after-ms		milliseconds
 *	x-ratelimit-reset-requests, x-ratelimit-reset-tokens
 *						Go durations: "1s", "6m0s", "20ms", "1h2m3.5s", "0"
 *	anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-reset
 *						RFC 3339: "2026-11-24T00:45:12Z", ".5Z", "+01:00"
 */
extern void pa_retry_header(PaRetryHints *h, const char *name, size_t name_len,
							const char *value, size_t value_len, double now_epoch_s);

/* 408, 429, 500, 502, 503, 504, 529. A transport failure is the caller's. */
extern bool pa_retry_status_retryable(long status);

/*
 * Seconds to wait before retry number attempt+1 (attempt 0-based).
 * Backoff: min(base_s * 2^attempt, cap_s) scaled by 0.5 + 0.5 * jitter01,
 * i.e. into [50%, 100%) of the capped value. A retry-after (h->retry_after_s)
 * wins outright, up to PA_RETRY_AFTER_MAX_FACTOR * cap_s; else a reset
 * (h->reset_s) raises the backoff to min(reset_s, cap_s). h may be NULL.
 * jitter01 is a random number in [0,1) from the caller (clamped).
 */
extern double pa_retry_delay_s(int attempt, const PaRetryHints *h, double base_s,
							   double cap_s, double jitter01);

#endif							/* PA_RETRY_H */
