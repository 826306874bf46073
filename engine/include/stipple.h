/*
 * stipple.h - the whole public API of libstipple.
 *
 * libstipple runs CNN forward passes (ResNet backbones, FPN necks) on the CPU
 * from model files in the Stipple format (proto/model-format.md).
 *
 * Objects, all opaque:
 *   stp_engine   a thread pool and the CPU kernel level chosen for it.
 *   stp_model    a loaded, immutable model: packed weights and an execution
 *                plan. One model may be shared by any number of sessions on
 *                any number of threads at once.
 *   stp_session  per-request state: the activation arena for one input size
 *                and the outputs of the last run. A session is used by one
 *                thread at a time.
 *
 * Every call that can fail returns enum stp_status; stp_status_str() names it.
 * Loaders also fill a caller-provided message buffer with a one-line reason.
 * Destroy functions accept NULL.
 *
 * Tensors are NHWC, batch 1, FP32.
 */
#ifndef STIPPLE_H
#define STIPPLE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define STP_API __attribute__((visibility("default")))
#else
#define STP_API
#endif

enum stp_status {
	STP_OK = 0,
	STP_ERR_INVALID_ARG,   /* a bad argument from the caller */
	STP_ERR_NOMEM,         /* an allocation failed */
	STP_ERR_IO,            /* a file could not be opened or read */
	STP_ERR_FORMAT,        /* a model file is malformed */
	STP_ERR_UNSUPPORTED,   /* valid, but not something this build can run */
	STP_ERR_CANCELLED,     /* the run was cancelled by its abort callback */
	STP_ERR_INTERNAL,      /* a bug in libstipple */
	STP_ERR_BUDGET         /* a budget below the model's cheapest run at this input
				* size (its grid prior and mask convs alone cost more):
				* stp_session_min_budget() gives the least one */
};

/* The library version, "MAJOR.MINOR.PATCH". */
STP_API const char *stp_version(void);

/* A static string naming the status; never NULL. */
STP_API const char *stp_status_str(enum stp_status status);

/* ---- CPU kernel levels --------------------------------------------------- */

enum stp_isa {
	STP_ISA_AUTO = 0,   /* the best the CPU supports, or $STIPPLE_ISA if set */
	STP_ISA_SCALAR,
	STP_ISA_AVX2,       /* AVX2 + FMA */
	STP_ISA_AVX512      /* AVX-512 F */
};

/* "scalar", "avx2", "avx512" or "auto". */
STP_API const char *stp_isa_name(enum stp_isa isa);
/* The best level this CPU supports (ignores $STIPPLE_ISA). */
STP_API enum stp_isa stp_isa_best(void);

/* ---- Engine: thread pool + kernel level ---------------------------------- */

typedef struct stp_engine stp_engine;

struct stp_engine_options {
	int threads;        /* worker threads including the caller; <= 0: one per CPU */
	enum stp_isa isa;   /* STP_ISA_AUTO honours $STIPPLE_ISA */
};

/* The caller owns *out and frees it with stp_engine_destroy(). Fails with
 * STP_ERR_UNSUPPORTED when the requested level is not supported by the CPU. */
STP_API enum stp_status stp_engine_create(const struct stp_engine_options *opts,
					  stp_engine **out);
STP_API void stp_engine_destroy(stp_engine *engine);
STP_API int stp_engine_threads(const stp_engine *engine);
STP_API enum stp_isa stp_engine_isa(const stp_engine *engine);

/* ---- Model --------------------------------------------------------------- */

typedef struct stp_model stp_model;

/* Loads a model file. On failure, err (if not NULL) receives a one-line
 * reason of at most errlen-1 bytes. The caller owns *out and frees it with
 * stp_model_destroy(). Weights are packed for the engine's kernel level, so a
 * model is bound to the engine it was loaded with (which must outlive it). */
STP_API enum stp_status stp_model_load(stp_engine *engine, const char *path,
				       stp_model **out, char *err, size_t errlen);
/* The same from a buffer the caller keeps ownership of (not referenced after
 * the call returns). */
STP_API enum stp_status stp_model_load_buffer(stp_engine *engine, const void *data,
					      size_t size, stp_model **out,
					      char *err, size_t errlen);
STP_API void stp_model_destroy(stp_model *model);

/* The architecture JSON stored in the model file (owned by the model). */
STP_API const char *stp_model_architecture(const stp_model *model);
/* Number of learned parameters (BN statistics excluded). */
STP_API uint64_t stp_model_parameter_count(const stp_model *model);

struct stp_cost {
	double backbone_macs;  /* backbone multiply-accumulates, docs/method.md section 6 rules */
	double total_flops;    /* 2 x MACs of every conv/fc in the plan, plus elementwise ops */
};
/* Dense cost of a forward pass at input size h x w. */
STP_API enum stp_status stp_model_cost(const stp_model *model, int h, int w,
				       struct stp_cost *out);

/* Outputs of the network, in order (e.g. "c2".."c5", or "p2".."p6" with FPN). */
STP_API int stp_model_output_count(const stp_model *model);
STP_API const char *stp_model_output_name(const stp_model *model, int index);
/* Input channels (3 for images). */
STP_API int stp_model_input_channels(const stp_model *model);

/* ---- Session ------------------------------------------------------------- */

typedef struct stp_session stp_session;

/* The caller owns *out and frees it with stp_session_destroy(). Fails with
 * STP_ERR_UNSUPPORTED for models that load for their cost only (deformable
 * convs, backbone.dcn). */
STP_API enum stp_status stp_session_create(const stp_model *model, stp_session **out);
STP_API void stp_session_destroy(stp_session *session);

/* Runs the session on another engine's thread pool (the model's by default),
 * so that several engines can serve one loaded model at once, each on its own
 * threads. The engine must use the same kernel level as the model's
 * (STP_ERR_INVALID_ARG otherwise) and outlive the session. */
STP_API enum stp_status stp_session_set_engine(stp_session *session, stp_engine *engine);

/* Returns non-zero to cancel the run; checked between layers. */
typedef int (*stp_abort_fn)(void *user);
STP_API void stp_session_set_abort(stp_session *session, stp_abort_fn fn, void *user);

/* Runs the network on an NHWC FP32 image of h x w x input_channels, already
 * normalised. The input is read during the call only. Outputs stay valid
 * until the next run or the session's destruction. */
STP_API enum stp_status stp_session_run(stp_session *session, const float *input,
					int h, int w);

/* How a run samples the masks of a sparse model (dense models ignore it). */
enum stp_sampling {
	STP_SAMPLING_DETERMINISTIC = 0, /* sampled where logit >= 0, plus the grid */
	STP_SAMPLING_STOCHASTIC         /* logit + logistic noise >= 0, noise keyed by seed */
};

/* What a run of a sparse model computes (dense models always run dense). */
enum stp_run_mode {
	STP_RUN_TRAINED = 0, /* the model's trained masks; sampling decides how */
	STP_RUN_DENSE,       /* the dense network exactly: no mask is predicted */
	STP_RUN_BUDGET       /* at most budget x the dense cost (docs/sparse.md has
				the policy); STP_ERR_BUDGET below the cheapest run */
};

struct stp_run_options {
	enum stp_run_mode mode;
	double budget;              /* STP_RUN_BUDGET: in (0, 1], 1 = dense; else unused */
	enum stp_sampling sampling;
	uint64_t seed;
};

/* stp_session_run with options (NULL: trained masks, deterministic). */
STP_API enum stp_status stp_session_run_with(stp_session *session, const float *input,
					     int h, int w, const struct stp_run_options *opts);

/* The least budget a run at the last run's input size accepts, from the
 * last STP_RUN_BUDGET run (-1 when none ran): what STP_ERR_BUDGET refers to. */
STP_API double stp_session_min_budget(const stp_session *session);

/* What the last run computed. */
struct stp_run_report {
	int nmasks;                  /* masks in the network (0: dense model) */
	double mean_density;         /* mean sampled fraction over masks (1 when dense) */
	double backbone_macs;        /* backbone cost of this run, docs/method.md section 6 */
	double dense_backbone_macs;  /* the same network run densely */
	double backbone_ms;          /* wall time from the run's start (budget solve
					included) to the end of the last backbone op */
	double network_macs;         /* every conv of the plan (backbone, neck, head),
					mask convs and interpolation included, and
					after a detection run the box head's fully
					connected layers on its proposals */
	double dense_network_macs;   /* the same network run densely (the box head
					on post_nms_top_n proposals) */
};
STP_API enum stp_status stp_session_report(const stp_session *session,
					   struct stp_run_report *out);
/* Sampled fraction of mask i (0 <= i < nmasks) in the last run; -1 if none. */
STP_API double stp_session_mask_density(const stp_session *session, int index);

/* The cells mask i sampled in the last run: *data points at h x w bytes
 * (1 = sampled, row-major), valid until the next run. STP_ERR_INVALID_ARG
 * for a mask the run skipped (another task's head). */
STP_API enum stp_status stp_session_mask(const stp_session *session, int index,
					 const uint8_t **data, int *h, int *w);

struct stp_tensor_view {
	const float *data;   /* NHWC; element (y, x, c) at data[(y*w + x)*c_stride + c] */
	int h, w, c;
	int c_stride;        /* floats between consecutive pixels */
};
STP_API enum stp_status stp_session_output(const stp_session *session, int index,
					   struct stp_tensor_view *out);
/* ---- Profiling ---------------------------------------------------------- */

/* Phases of a sparse block's time (stp_op_profile.phase_ms). */
enum stp_phase {
	STP_PHASE_MASK = 0,   /* mask-logit convs and cell sampling */
	STP_PHASE_CONV,       /* the block's convs at their masks' cells */
	STP_PHASE_INTERP,     /* interpolation between convs: plans and gathers */
	STP_PHASE_SHORTCUT,   /* the downsample conv */
	STP_PHASE_FINAL,      /* last output everywhere + shift + shortcut + ReLU */
	STP_PHASE_COUNT
};

/* One op of the execution plan in the last profiled run. */
struct stp_op_profile {
	const char *kind;     /* "conv", "maxpool", "add", "resize", "avgpool", "sparse_block",
				 "resize_bilinear", "concat", "mask" */
	int h, w, c;          /* its output */
	double ms;            /* wall time */
	double phase_ms[STP_PHASE_COUNT];  /* sparse blocks only; 0 elsewhere */
};

/* When on, every run records the time of each op (a clock read per op and
 * per sparse-block phase; off by default). */
STP_API void stp_session_set_profiling(stp_session *session, int on);
/* The ops of the last profiled run, in execution order; returns their count
 * (0 when the last run was not profiled). Valid until the next run. */
STP_API int stp_session_profile(const stp_session *session, const struct stp_op_profile **ops);

/* ---- Tasks: detection and semantic segmentation ------------------------- */

/* What a model's heads can do (proto/model-format.md, "Heads"). */
enum stp_task {
	STP_TASK_DETECT = 1,    /* a "faster_rcnn" head */
	STP_TASK_SEGMENT = 2    /* a "semantic_fpn" head */
};
/* The STP_TASK_* bits of the model's heads (0: a feature extractor). */
STP_API unsigned stp_model_tasks(const stp_model *model);
/* Foreground classes of the heads (labels 1..N; 0 when the model has none). */
STP_API int stp_model_class_count(const stp_model *model);
/* The name of label 1..N from the model's "classes", or NULL when it has no
 * names or the label is out of range. */
STP_API const char *stp_model_class_name(const stp_model *model, int label);

/* The engine's input for an h x w image, by the model's "input" rules: the
 * resized size (rh, rw) and the padded size (ph, pw) the network runs at.
 * STP_ERR_INVALID_ARG when the image is empty or the result would be. */
STP_API enum stp_status stp_model_input_size(const stp_model *model, int h, int w,
					     int *rh, int *rw, int *ph, int *pw);

/* Runs the whole task pipeline on an 8-bit RGB image (h rows of w pixels,
 * 3 bytes each, rows `stride` bytes apart): normalise, resize and pad by the
 * model's "input" rules, the network (opts as stp_session_run_with), then
 * the heads in `tasks` (STP_TASK_* bits the model has; 0 runs only the
 * network up to its outputs). Convs that only another head needs are
 * skipped, and the report counts only what ran. Feature outputs, masks and
 * the report are those of the padded input, as after stp_session_run_with. */
STP_API enum stp_status stp_session_run_image(stp_session *session, const uint8_t *rgb,
					      int h, int w, size_t stride,
					      const struct stp_run_options *opts,
					      unsigned tasks);
/* The same for an image given at a reduced scale: rgb (h x w) is a smaller
 * copy of a source_h x source_w original (a JPEG decoded with libjpeg's DCT
 * scaling, say). The network input is sized from the original by the
 * model's rules and resampled from rgb; boxes and the label map come in the
 * original's pixels. stp_session_run_image is this with the source = rgb. */
STP_API enum stp_status stp_session_run_image_reduced(stp_session *session,
						      const uint8_t *rgb, int h, int w,
						      size_t stride, int source_h, int source_w,
						      const struct stp_run_options *opts,
						      unsigned tasks);

/* One detected object, in the original image's pixels. */
struct stp_detection {
	float x1, y1, x2, y2;
	float score;
	int label;              /* 1..N */
};
/* The detections of the last stp_session_run_image with STP_TASK_DETECT, by
 * descending score; returns their count (0 when that run did not detect).
 * *out stays valid until the next run. */
STP_API int stp_session_detections(const stp_session *session,
				   const struct stp_detection **out);
/* The label map of the last run with STP_TASK_SEGMENT: h x w bytes, row-major,
 * 0 = background, the image's own size. STP_ERR_INVALID_ARG when that run did
 * not segment. Valid until the next run. */
STP_API enum stp_status stp_session_semantic(const stp_session *session,
					     const uint8_t **labels, int *h, int *w);

/* Sizes the session for images of h x w (stp_session_run_image and
 * _reduced with that source size) on its engine's threads: the values'
 * arena, the masks, the sparse and interpolation scratch, the convs' tile
 * tables, the preprocessed input and the heads' buffers, each for the most
 * a run at that size can use. Runs at that size then allocate nothing; a
 * run at another size (or after stp_session_set_engine with other threads)
 * sizes them itself first. Drops the last run's results when it changes
 * anything. STP_ERR_UNSUPPORTED for a model without image input rules. */
STP_API enum stp_status stp_session_reserve(stp_session *session, int h, int w);

/* Bytes of scratch the session holds for its current sizes (all of the
 * above; tensor runs: the network's part). */
STP_API size_t stp_session_workspace_bytes(const stp_session *session);

#ifdef __cplusplus
}
#endif
#endif /* STIPPLE_H */
