/*
 * retry.c — the arithmetic of retrying model and HTTP calls (see retry.h).
 *
 * Parsers work on [p, end) ranges and never read past end. Numbers are read
 * by hand (no strtod: no locale, no hex, no inf/nan, no exponent), dates
 * converted with civil-calendar arithmetic (no timegm, no TZ).
 */
#include <math.h>
#include <string.h>

#include "retry.h"

#define IS_DIGIT(c) ((c) >= '0' && (c) <= '9')

static int
lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* the name (already trimmed) equals want, which is lower case */
static bool
name_is(const char *name, size_t len, const char *want)
{
	size_t		i;

	if (len != strlen(want))
		return false;
	for (i = 0; i < len; i++)
		if (lower((unsigned char) name[i]) != want[i])
			return false;
	return true;
}

static bool
lit(const char **pp, const char *end, char c)
{
	if (*pp < end && **pp == c)
	{
		(*pp)++;
		return true;
	}
	return false;
}

/* digits [ "." digits ], at least one digit; *pp moves only on success */
static bool
decimal(const char **pp, const char *end, double *out)
{
	const char *p = *pp;
	double		v = 0,
				scale = 1;
	bool		any = false;

	for (; p < end && IS_DIGIT(*p); p++, any = true)
		v = v * 10 + (*p - '0');
	if (p < end && *p == '.')
		for (p++; p < end && IS_DIGIT(*p); p++, any = true)
			v += (*p - '0') * (scale /= 10);
	if (!any || !isfinite(v))
		return false;
	*pp = p;
	*out = v;
	return true;
}

/* exactly n digits */
static bool
digits(const char **pp, const char *end, int n, int *out)
{
	int			v = 0,
				i;

	if (end - *pp < n)
		return false;
	for (i = 0; i < n; i++)
	{
		if (!IS_DIGIT((*pp)[i]))
			return false;
		v = v * 10 + ((*pp)[i] - '0');
	}
	*pp += n;
	*out = v;
	return true;
}

/* "HH:MM:SS" */
static bool
hms(const char **pp, const char *end, int *hh, int *mi, int *ss)
{
	return digits(pp, end, 2, hh) && lit(pp, end, ':') && digits(pp, end, 2, mi) &&
		lit(pp, end, ':') && digits(pp, end, 2, ss);
}

/* days from 1970-01-01 to y-m-d, proleptic Gregorian (H. Hinnant) */
static double
days_from_civil(int y, int m, int d)
{
	int			era,
				yoe,
				doy;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	return (double) era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

/* Unix time of a UTC civil time; false if out of range (second 60: a leap) */
static bool
epoch_of(int y, int mo, int d, int hh, int mi, int ss, double *out)
{
	static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool		leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && leap) ||
		hh > 23 || mi > 59 || ss > 60)
		return false;
	*out = days_from_civil(y, mo, d) * 86400.0 + hh * 3600 + mi * 60 + ss;
	return true;
}

/* "Nov" (any case) -> 11; 0 if none */
static int
month(const char **pp, const char *end)
{
	static const char names[] = "janfebmaraprmayjunjulaugsepoctnovdec";
	int			i;

	if (end - *pp < 3)
		return 0;
	for (i = 0; i < 12; i++)
		if (lower((unsigned char) (*pp)[0]) == names[3 * i] &&
			lower((unsigned char) (*pp)[1]) == names[3 * i + 1] &&
			lower((unsigned char) (*pp)[2]) == names[3 * i + 2])
		{
			*pp += 3;
			return i + 1;
		}
	return 0;
}

/*
 * HTTP-date, the three forms RFC 9110 5.6.7 has recipients accept:
 *	"Sun, 06 Nov 1994 08:49:37 GMT"		IMF-fixdate
 *	"Sunday, 06-Nov-94 08:49:37 GMT"	rfc850 (year: the nearest not >50 ahead)
 *	"Sun Nov  6 08:49:37 1994"			asctime
 * The day name is not checked against the date.
 */
static bool
http_date(const char *p, const char *end, double now, double *out)
{
	int			y,
				mo,
				d,
				hh,
				mi,
				ss;
	const char *q = p;

	while (q < end && lower((unsigned char) *q) >= 'a' && lower((unsigned char) *q) <= 'z')
		q++;
	if (q - p < 3)
		return false;
	p = q;
	if (lit(&p, end, ','))
	{
		if (!lit(&p, end, ' ') || !digits(&p, end, 2, &d))
			return false;
		if (lit(&p, end, ' '))
		{
			if (!(mo = month(&p, end)) || !lit(&p, end, ' ') || !digits(&p, end, 4, &y))
				return false;
		}
		else
		{
			int			cur = 1970 + (int) floor(now / 31556952.0);	/* mean year */

			if (!lit(&p, end, '-') || !(mo = month(&p, end)) || !lit(&p, end, '-') ||
				!digits(&p, end, 2, &y))
				return false;
			y += cur - cur % 100;
			if (y > cur + 50)
				y -= 100;
		}
		if (!lit(&p, end, ' ') || !hms(&p, end, &hh, &mi, &ss) || !lit(&p, end, ' ') ||
			end - p != 3 || !name_is(p, 3, "gmt"))
			return false;
	}
	else
	{
		if (!lit(&p, end, ' ') || !(mo = month(&p, end)) || !lit(&p, end, ' '))
			return false;
		if (!(lit(&p, end, ' ') ? digits(&p, end, 1, &d) : digits(&p, end, 2, &d)) ||
			!lit(&p, end, ' ') || !hms(&p, end, &hh, &mi, &ss) || !lit(&p, end, ' ') ||
			!digits(&p, end, 4, &y) || p != end)
			return false;
	}
	return epoch_of(y, mo, d, hh, mi, ss, out);
}

/*
 * RFC 3339 date-time: "2026-11-24T00:45:12[.frac](Z|+hh:mm|-hh:mm)"; the
 * fraction apart, so that subtracting now keeps it exact
 */
static bool
rfc3339(const char *p, const char *end, double *out, double *frac_out)
{
	int			y,
				mo,
				d,
				hh,
				mi,
				ss,
				oh,
				om;
	double		t,
				frac = 0,
				scale = 1;

	if (!digits(&p, end, 4, &y) || !lit(&p, end, '-') || !digits(&p, end, 2, &mo) ||
		!lit(&p, end, '-') || !digits(&p, end, 2, &d) || p >= end ||
		(*p != 'T' && *p != 't' && *p != ' '))
		return false;
	p++;
	if (!hms(&p, end, &hh, &mi, &ss) || !epoch_of(y, mo, d, hh, mi, ss, &t))
		return false;
	if (lit(&p, end, '.'))
	{
		if (p >= end || !IS_DIGIT(*p))
			return false;
		for (; p < end && IS_DIGIT(*p); p++)
			frac += (*p - '0') * (scale /= 10);
	}
	if (p < end && (*p == '+' || *p == '-'))
	{
		int			sign = *p++ == '-' ? -1 : 1;

		if (!digits(&p, end, 2, &oh) || !lit(&p, end, ':') || !digits(&p, end, 2, &om) ||
			oh > 23 || om > 59)
			return false;
		t -= sign * (oh * 3600 + om * 60);	/* local = UTC + offset */
	}
	else if (!lit(&p, end, 'Z') && !lit(&p, end, 'z'))
		return false;
	if (p != end)
		return false;
	*out = t;
	*frac_out = frac;
	return true;
}

/* Go's time.ParseDuration, non-negative: "1h2m3.5s", "20ms", "0" */
static bool
go_duration(const char *p, const char *end, double *out)
{
	static const struct
	{
		const char *name;
		double		s;
	}			units[] = {
		{"ns", 1e-9}, {"us", 1e-6}, {"\xc2\xb5s", 1e-6}, {"\xce\xbcs", 1e-6},
		{"ms", 1e-3}, {"s", 1}, {"m", 60}, {"h", 3600}
	};
	double		total = 0;

	lit(&p, end, '+');
	if (end - p == 1 && *p == '0')
	{
		*out = 0;
		return true;
	}
	if (p == end)
		return false;
	while (p < end)
	{
		double		v;
		const char *u;
		size_t		i,
					n = sizeof(units) / sizeof(units[0]);

		if (!decimal(&p, end, &v))
			return false;
		for (u = p; p < end && !IS_DIGIT(*p) && *p != '.'; p++)
			;
		for (i = 0; i < n; i++)
			if (strlen(units[i].name) == (size_t) (p - u) && memcmp(units[i].name, u, p - u) == 0)
				break;
		if (i == n)
			return false;
		total += v * units[i].s;
	}
	if (!isfinite(total))
		return false;
	*out = total;
	return true;
}

/* keep the largest; NaN in the slot is replaced */
static void
raise_to(double *slot, double v)
{
	if (isfinite(v) && v >= 0 && !(*slot >= v))
		*slot = v;
}

void
pa_retry_hints_init(PaRetryHints *h)
{
	h->retry_after_s = -1;
	h->reset_s = -1;
}

static bool
blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

void
pa_retry_header(PaRetryHints *h, const char *name, size_t name_len,
				const char *value, size_t value_len, double now_epoch_s)
{
	const char *p,
			   *end,
			   *q;
	double		v,
				frac;
	/* a finite now, within ~30,000 years of 1970 (keeps year arithmetic in int) */
	bool		dates = isfinite(now_epoch_s) && fabs(now_epoch_s) < 1e12;

	if (h == NULL || name == NULL || value == NULL)
		return;
	p = value;
	end = value + value_len;
	while (name_len > 0 && blank(*name))
		name++, name_len--;
	while (name_len > 0 && blank(name[name_len - 1]))
		name_len--;
	while (p < end && blank(*p))
		p++;
	while (end > p && blank(end[-1]))
		end--;

	if (name_is(name, name_len, "retry-after-ms"))
	{
		if (decimal(&p, end, &v) && p == end)
			raise_to(&h->retry_after_s, v / 1000.0);
	}
	else if (name_is(name, name_len, "retry-after"))
	{
		q = p;
		if (decimal(&q, end, &v) && q == end)
			raise_to(&h->retry_after_s, v);
		else if (dates && http_date(p, end, now_epoch_s, &v))
			raise_to(&h->retry_after_s, fmax(v - now_epoch_s, 0));
	}
	else if (name_is(name, name_len, "x-ratelimit-reset-requests") ||
			 name_is(name, name_len, "x-ratelimit-reset-tokens"))
	{
		if (go_duration(p, end, &v))
			raise_to(&h->reset_s, v);
	}
	else if (name_is(name, name_len, "anthropic-ratelimit-requests-reset") ||
			 name_is(name, name_len, "anthropic-ratelimit-tokens-reset") ||
			 name_is(name, name_len, "anthropic-ratelimit-input-tokens-reset") ||
			 name_is(name, name_len, "anthropic-ratelimit-output-tokens-reset"))
	{
		if (dates && rfc3339(p, end, &v, &frac))
			raise_to(&h->reset_s, fmax(v - now_epoch_s + frac, 0));
	}
}

bool
pa_retry_status_retryable(long status)
{
	switch (status)
	{
		case 408:				/* request timeout */
		case 429:				/* rate limited */
		case 500:
		case 502:
		case 503:
		case 504:
		case 529:				/* Anthropic: overloaded */
			return true;
		default:
			return false;
	}
}

double
pa_retry_delay_s(int attempt, const PaRetryHints *h, double base_s,
				 double cap_s, double jitter01)
{
	double		d;

	if (!(cap_s >= 0))
		cap_s = 0;
	if (!(base_s >= 0))
		base_s = 0;
	if (!(jitter01 >= 0))
		jitter01 = 0;
	else if (jitter01 > 1)
		jitter01 = 1;
	if (attempt < 0)
		attempt = 0;

	/* the server said when: retrying earlier only fails again */
	if (h != NULL && h->retry_after_s >= 0)
		return fmin(h->retry_after_s, cap_s * PA_RETRY_AFTER_MAX_FACTOR);

	/* capped first, then jittered: waits at the cap stay spread out */
	d = fmin(ldexp(base_s, attempt > 1100 ? 1100 : attempt), cap_s);
	d *= 0.5 + 0.5 * jitter01;

	/* a reset is when a window refills completely: a hint, capped */
	if (h != NULL && h->reset_s >= 0)
		d = fmax(d, fmin(h->reset_s, cap_s));
	return d;
}
