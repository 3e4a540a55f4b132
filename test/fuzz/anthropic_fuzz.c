/*
 * anthropic_fuzz.c — libFuzzer target for the Anthropic Messages response
 * parser (src/provider_anthropic.c, src/model.c): see fuzz_response() in
 * fuzz_neutral.h.
 */
#include "fuzz_neutral.h"
#include "fuzz_init.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_response(pa_anthropic_parse_response, pa_anthropic_error_message, data, size);
}
