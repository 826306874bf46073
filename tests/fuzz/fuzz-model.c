/*
 * fuzz-model.c - a libFuzzer harness for the model loader.
 *
 * Each input is handed to stp_model_load_buffer() as a whole model file, so
 * the fuzzer reaches the safetensors reader, the architecture parser and the
 * network builders that take the tensors. The engine (one thread, so runs
 * are reproducible) is created once and kept for the whole process. A
 * loaded model is destroyed at once; leaks, crashes and out-of-bounds reads
 * are what the sanitizers report.
 */
#include <stddef.h>
#include <stdint.h>

#include "stipple.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static stp_engine *engine;
	stp_model *model = NULL;
	char err[256];

	if (!engine) {
		const struct stp_engine_options opts = {1, STP_ISA_AUTO};
		if (stp_engine_create(&opts, &engine) != STP_OK)
			return 0;
	}
	if (stp_model_load_buffer(engine, data, size, &model, err, sizeof(err)) == STP_OK)
		stp_model_destroy(model);
	return 0;
}
