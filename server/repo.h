/*
 * repo.h - the model repository: which models exist, which version of each
 * is loaded, and which is the default.
 *
 * Layout on disk: DIR/NAME/VERSION/model.stp, VERSION a positive integer
 * (the highest is loaded unless one is asked for). Names are
 * [A-Za-z0-9._-]{1,63}.
 *
 * A loaded version is a struct served_model: immutable, reference counted.
 * Requests hold a reference from routing to reply, so a reload swaps in the
 * new version while requests on the old one finish on it, and the old one is
 * freed when its last request lets go: a reload loses no request, and a
 * failed load leaves the version being served untouched. Sessions (arenas)
 * live in a small free list inside each served_model and die with it.
 *
 * Concurrency: one mutex guards the entry table and reference counts; loads
 * run outside it, serialised by a second mutex, so routing never waits for a
 * model file to be read.
 */
#ifndef STIPPLE_SERVER_REPO_H
#define STIPPLE_SERVER_REPO_H

#include <jansson.h>
#include <pthread.h>

#include "stipple.h"

#define REPO_NAME_MAX 64

struct served_model {
	char name[REPO_NAME_MAX];
	int version;
	stp_model *model;
	json_t *classes;            /* array of strings (may be empty) */
	int sparse;                 /* has masks: budgets mean something */
	int can_detect, can_segment;

	/* private to repo.c */
	int refs;
	pthread_mutex_t session_lock;
	stp_session **free_sessions;
	int nfree, free_cap;
};

enum model_state { MODEL_UNAVAILABLE = 0, MODEL_LOADING, MODEL_READY, MODEL_FAILED };

struct repo;

/* Creates the repository over dir and loads the latest version of every
 * model in it (failures are logged and leave that model FAILED). engine packs
 * the weights (its kernel level is the one every worker engine must use).
 * default_name "" picks the first model by name that loaded (or the first). */
int repo_open(const char *dir, const char *default_name, stp_engine *engine, struct repo **out,
	      char *err, size_t errlen);
void repo_close(struct repo *repo);

enum repo_status { REPO_OK = 0, REPO_NOT_FOUND, REPO_NOT_READY, REPO_LOAD_FAILED, REPO_NOMEM };

/* A reference to the loaded version of name (NULL: the default model). */
enum repo_status repo_acquire(struct repo *repo, const char *name, struct served_model **out);
/* The same for a request needing STP_TASK_* bits `tasks`. With no name and
 * a default picked by the repository (not configured), a loaded default
 * that cannot do them gives way to the first loaded model by name that can:
 * a repository may hold a detector and a segmenter. A configured default is
 * always the one served. */
enum repo_status repo_acquire_for(struct repo *repo, const char *name, unsigned tasks,
				  struct served_model **out);
void served_model_release(struct repo *repo, struct served_model *m);

/* A session of m bound to engine, from m's free list or new; give it back
 * with served_model_put_session. */
enum stp_status served_model_get_session(struct served_model *m, stp_engine *engine,
					 stp_session **out);
void served_model_put_session(struct served_model *m, stp_session *s);

/* Loads version (0: the latest) of name, rescanning the directory, and swaps
 * it in. On failure the served version stays and err says why. */
enum repo_status repo_load(struct repo *repo, const char *name, int version, char *err,
			   size_t errlen);
/* Stops serving name (requests in flight finish). */
enum repo_status repo_unload(struct repo *repo, const char *name);
/* Rescans the directory and reloads every model that is loaded or new
 * (SIGHUP). Returns how many loads failed, or -1 when out of memory. */
int repo_reload_all(struct repo *repo);

/* The default model is loaded. */
int repo_default_ready(struct repo *repo);
const char *repo_default_name(struct repo *repo);
/* [{name, version, state, reason}] for every model, new reference. */
json_t *repo_index(struct repo *repo);
/* State and reason of one model; REPO_NOT_FOUND if unknown. */
enum repo_status repo_state(struct repo *repo, const char *name, enum model_state *state,
			    char *reason, size_t reasonlen);
const char *model_state_name(enum model_state state);

/* Number of models in each state, for metrics. */
void repo_count_states(struct repo *repo, int counts[4]);

#endif
