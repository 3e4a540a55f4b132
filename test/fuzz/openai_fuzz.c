/*
 * openai_fuzz.c — libFuzzer target for the OpenAI Chat Completions response
 * parser (src/provider_openai.c, src/model.c): see fuzz_response() in
 * fuzz_neutral.h.
 */
#include "fuzz_neutral.h"
#include "fuzz_init.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_response(pa_openai_parse_response, pa_openai_error_message, data, size);
}
