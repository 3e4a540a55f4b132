/*
 * fuzz_init.h — the entry points every target defines, and what each does
 * once before the first input (each target is its own program, so this
 * header is included by exactly one file of it).
 */
#ifndef PA_FUZZ_INIT_H
#define PA_FUZZ_INIT_H

#include <stddef.h>
#include <stdint.h>

#include "pa_json.h"

int			LLVMFuzzerInitialize(int *argc, char ***argv);
int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void) argc;
	(void) argv;
	/* fixed hash seed: object order, and so any failure, is reproducible */
	json_object_seed(1);
	return 0;
}

#endif							/* PA_FUZZ_INIT_H */
