/*
 * unit_check.h — the counters and CHECK macro of the standalone unit tests.
 * Each test program includes it once and ends with
 * printf("%d passed, %d failed\n", passed, failed).
 */
#ifndef PA_UNIT_CHECK_H
#define PA_UNIT_CHECK_H

#include <stdio.h>

static int	passed,
			failed;

#define CHECK(cond, name) \
	do { \
		if (cond) passed++; \
		else { failed++; printf("FAIL %s (line %d)\n", (name), __LINE__); } \
	} while (0)

#endif							/* PA_UNIT_CHECK_H */
