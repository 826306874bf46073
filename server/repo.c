/*
 * repo.c - see repo.h for the model and the concurrency rules.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "repo.h"

struct repo_entry {
	char name[REPO_NAME_MAX];
	enum model_state state;
	char reason[256];
	struct served_model *current;   /* NULL unless READY */
};

struct repo {
	char *dir;
	char default_name[REPO_NAME_MAX];
	int default_explicit;   /* named by the configuration, not picked */
	stp_engine *engine;
	pthread_mutex_t lock;           /* entries, refs */
	pthread_mutex_t load_lock;      /* one load at a time */
	struct repo_entry *entries;
	int nentries, cap;
};

const char *model_state_name(enum model_state state)
{
	static const char *const names[] = {"UNAVAILABLE", "LOADING", "READY", "FAILED"};

	return names[state];
}

static int valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= REPO_NAME_MAX || !strcmp(s, ".") || !strcmp(s, ".."))
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

static int is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The highest version folder of DIR/name holding a model.stp; 0 if none. */
static int latest_version(const char *dir, const char *name)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int best = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	d = opendir(path);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		char *end, file[PATH_MAX + 300];
		long v = strtol(de->d_name, &end, 10);
		struct stat st;

		if (*end || end == de->d_name || de->d_name[0] == '+' || de->d_name[0] == '-' ||
		    v <= 0 || v > INT_MAX || v <= best)
			continue;
		snprintf(file, sizeof(file), "%s/%s/model.stp", path, de->d_name);
		if (stat(file, &st) == 0 && S_ISREG(st.st_mode))
			best = (int)v;
	}
	closedir(d);
	return best;
}

/* ---- reading what the server needs from the model ---------------------- */

static int describe(struct served_model *m, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *arch = json_loads(stp_model_architecture(m->model), 0, &jerr);
	const json_t *sparse;

	if (!arch) {
		snprintf(err, errlen, "architecture JSON: %s", jerr.text);
		return -1;
	}
	m->can_detect = (stp_model_tasks(m->model) & STP_TASK_DETECT) != 0;
	m->can_segment = (stp_model_tasks(m->model) & STP_TASK_SEGMENT) != 0;
	sparse = json_object_get(json_object_get(arch, "backbone"), "sparse");
	m->sparse = json_is_object(sparse);
	m->classes = json_object_get(arch, "classes");
	m->classes = json_is_array(m->classes) ? json_incref(m->classes) : json_array();
	json_decref(arch);
	if (stp_model_input_channels(m->model) != 3) {
		snprintf(err, errlen, "the model takes %d input channels; stippled serves RGB models",
			 stp_model_input_channels(m->model));
		return -1;
	}
	return 0;
}

static void served_model_free(struct served_model *m)
{
	if (!m)
		return;
	for (int i = 0; i < m->nfree; i++)
		stp_session_destroy(m->free_sessions[i]);
	free(m->free_sessions);
	pthread_mutex_destroy(&m->session_lock);
	json_decref(m->classes);
	stp_model_destroy(m->model);
	free(m);
}

static struct served_model *load_version(struct repo *repo, const char *name, int version,
					 char *err, size_t errlen)
{
	char path[PATH_MAX + 64];
	struct served_model *m = calloc(1, sizeof(*m));

	if (!m) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&m->session_lock, NULL);
	snprintf(m->name, sizeof(m->name), "%s", name);
	m->version = version;
	snprintf(path, sizeof(path), "%s/%s/%d/model.stp", repo->dir, name, version);
	if (stp_model_load(repo->engine, path, &m->model, err, errlen) != STP_OK ||
	    describe(m, err, errlen)) {
		served_model_free(m);
		return NULL;
	}
	return m;
}

/* ---- entries --------------------------------------------------------- */

static struct repo_entry *find_entry(struct repo *repo, const char *name)
{
	for (int i = 0; i < repo->nentries; i++)
		if (!strcmp(repo->entries[i].name, name))
			return &repo->entries[i];
	return NULL;
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct repo_entry *)a)->name, ((const struct repo_entry *)b)->name);
}

/* Adds entries for folders not known yet; caller holds repo->lock. */
static int scan_locked(struct repo *repo)
{
	DIR *d = opendir(repo->dir);
	struct dirent *de;
	char path[PATH_MAX];

	if (!d)
		return -1;
	while ((de = readdir(d))) {
		if (!valid_name(de->d_name) || find_entry(repo, de->d_name))
			continue;
		snprintf(path, sizeof(path), "%s/%s", repo->dir, de->d_name);
		if (!is_dir(path))
			continue;
		if (repo->nentries == repo->cap) {
			int cap = repo->cap ? repo->cap * 2 : 8;
			struct repo_entry *e = realloc(repo->entries, (size_t)cap * sizeof(*e));

			if (!e)
				break;
			repo->entries = e;
			repo->cap = cap;
		}
		memset(&repo->entries[repo->nentries], 0, sizeof(repo->entries[0]));
		memcpy(repo->entries[repo->nentries].name, de->d_name, strlen(de->d_name) + 1);
		repo->nentries++;
	}
	closedir(d);
	qsort(repo->entries, (size_t)repo->nentries, sizeof(*repo->entries), cmp_entry);
	return 0;
}

static void release_locked(struct served_model *m, struct served_model **dead)
{
	*dead = --m->refs == 0 ? m : NULL;
}

enum repo_status repo_load(struct repo *repo, const char *name, int version, char *err,
			   size_t errlen)
{
	struct served_model *m, *old = NULL, *dead = NULL;
	struct repo_entry *e;
	char reason[256];

	if (!valid_name(name)) {
		snprintf(err, errlen, "invalid model name");
		return REPO_NOT_FOUND;
	}
	pthread_mutex_lock(&repo->load_lock);
	pthread_mutex_lock(&repo->lock);
	scan_locked(repo);
	e = find_entry(repo, name);
	if (e && e->state != MODEL_READY)
		e->state = MODEL_LOADING;
	pthread_mutex_unlock(&repo->lock);
	if (!e) {
		pthread_mutex_unlock(&repo->load_lock);
		snprintf(err, errlen, "no model '%s' in the repository", name);
		return REPO_NOT_FOUND;
	}
	if (version == 0)
		version = latest_version(repo->dir, name);
	if (version == 0) {
		snprintf(reason, sizeof(reason), "no version folder with a model.stp in %s/%s",
			 repo->dir, name);
		m = NULL;
	} else {
		m = load_version(repo, name, version, reason, sizeof(reason));
	}
	pthread_mutex_lock(&repo->lock);
	e = find_entry(repo, name);  /* the table may have moved while loading */
	if (m) {
		m->refs = 1;
		old = e->current;
		e->current = m;
		e->state = MODEL_READY;
		e->reason[0] = '\0';
		if (old)
			release_locked(old, &dead);
	} else if (e->current) {
		snprintf(e->reason, sizeof(e->reason), "reload failed, still serving version %d: %.180s",
			 e->current->version, reason);
	} else {
		e->state = MODEL_FAILED;
		snprintf(e->reason, sizeof(e->reason), "%s", reason);
	}
	pthread_mutex_unlock(&repo->lock);
	pthread_mutex_unlock(&repo->load_lock);
	served_model_free(dead);
	if (!m) {
		snprintf(err, errlen, "%s", reason);
		log_msg(LOG_WARN, "model %s: load failed: %s", name, reason);
		return REPO_LOAD_FAILED;
	}
	log_msg(LOG_INFO, "model %s: version %d ready", name, version);
	return REPO_OK;
}

enum repo_status repo_unload(struct repo *repo, const char *name)
{
	struct served_model *dead = NULL;
	struct repo_entry *e;

	pthread_mutex_lock(&repo->lock);
	e = find_entry(repo, name);
	if (!e) {
		pthread_mutex_unlock(&repo->lock);
		return REPO_NOT_FOUND;
	}
	if (e->current)
		release_locked(e->current, &dead);
	e->current = NULL;
	e->state = MODEL_UNAVAILABLE;
	snprintf(e->reason, sizeof(e->reason), "unloaded");
	pthread_mutex_unlock(&repo->lock);
	served_model_free(dead);
	log_msg(LOG_INFO, "model %s: unloaded", name);
	return REPO_OK;
}

int repo_reload_all(struct repo *repo)
{
	char (*names)[REPO_NAME_MAX], err[256];
	int n = 0, failed = 0;

	pthread_mutex_lock(&repo->lock);
	scan_locked(repo);
	names = malloc((size_t)(repo->nentries + 1) * sizeof(*names));
	for (int i = 0; names && i < repo->nentries; i++)
		if (repo->entries[i].state != MODEL_UNAVAILABLE || !repo->entries[i].reason[0])
			memcpy(names[n++], repo->entries[i].name, REPO_NAME_MAX);
	pthread_mutex_unlock(&repo->lock);
	if (!names) {
		log_msg(LOG_ERROR, "reload: out of memory");
		return -1;
	}
	for (int i = 0; i < n; i++)
		failed += repo_load(repo, names[i], 0, err, sizeof(err)) != REPO_OK;
	free(names);
	return failed;
}

/* The first model by name that loaded, or the first model. */
static const char *first_ready(struct repo *repo)
{
	for (int i = 0; i < repo->nentries; i++)
		if (repo->entries[i].current)
			return repo->entries[i].name;
	return repo->entries[0].name;
}

int repo_open(const char *dir, const char *default_name, stp_engine *engine, struct repo **out,
	      char *err, size_t errlen)
{
	struct repo *repo = calloc(1, sizeof(*repo));

	*out = NULL;
	if (!repo || !(repo->dir = strdup(dir))) {
		free(repo);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	repo->engine = engine;
	pthread_mutex_init(&repo->lock, NULL);
	pthread_mutex_init(&repo->load_lock, NULL);
	if (!is_dir(dir) || scan_locked(repo)) {
		snprintf(err, errlen, "model repository %s: %s", dir,
			 is_dir(dir) ? strerror(errno) : "not a directory");
		repo_close(repo);
		return -1;
	}
	if (*default_name && !find_entry(repo, default_name)) {
		snprintf(err, errlen, "default model '%s' is not in %s", default_name, dir);
		repo_close(repo);
		return -1;
	}
	if (repo->nentries == 0) {
		snprintf(err, errlen, "model repository %s has no model folders", dir);
		repo_close(repo);
		return -1;
	}
	repo_reload_all(repo);
	snprintf(repo->default_name, REPO_NAME_MAX, "%s", *default_name ? default_name : first_ready(repo));
	repo->default_explicit = *default_name != '\0';
	*out = repo;
	return 0;
}

void repo_close(struct repo *repo)
{
	if (!repo)
		return;
	for (int i = 0; i < repo->nentries; i++)
		if (repo->entries[i].current && --repo->entries[i].current->refs == 0)
			served_model_free(repo->entries[i].current);
	free(repo->entries);
	pthread_mutex_destroy(&repo->lock);
	pthread_mutex_destroy(&repo->load_lock);
	free(repo->dir);
	free(repo);
}

/* ---- references and sessions ------------------------------------------ */

/* Whether a loaded model can run the STP_TASK_* bits `tasks`. */
static int can_do(const struct served_model *m, unsigned tasks)
{
	return m && (!(tasks & STP_TASK_DETECT) || m->can_detect) &&
	       (!(tasks & STP_TASK_SEGMENT) || m->can_segment);
}

enum repo_status repo_acquire(struct repo *repo, const char *name, struct served_model **out)
{
	return repo_acquire_for(repo, name, 0, out);
}

enum repo_status repo_acquire_for(struct repo *repo, const char *name, unsigned tasks,
				  struct served_model **out)
{
	struct repo_entry *e;
	enum repo_status st = REPO_OK;

	*out = NULL;
	pthread_mutex_lock(&repo->lock);
	e = find_entry(repo, name ? name : repo->default_name);
	if (!name && !repo->default_explicit && e && e->current && !can_do(e->current, tasks))
		for (int i = 0; i < repo->nentries; i++)
			if (can_do(repo->entries[i].current, tasks)) {
				e = &repo->entries[i];
				break;
			}
	if (!e)
		st = REPO_NOT_FOUND;
	else if (!e->current)
		st = REPO_NOT_READY;
	else {
		e->current->refs++;
		*out = e->current;
	}
	pthread_mutex_unlock(&repo->lock);
	return st;
}

void served_model_release(struct repo *repo, struct served_model *m)
{
	struct served_model *dead = NULL;

	if (!m)
		return;
	pthread_mutex_lock(&repo->lock);
	release_locked(m, &dead);
	pthread_mutex_unlock(&repo->lock);
	served_model_free(dead);
}

enum stp_status served_model_get_session(struct served_model *m, stp_engine *engine,
					 stp_session **out)
{
	enum stp_status st;
	stp_session *s = NULL;

	pthread_mutex_lock(&m->session_lock);
	if (m->nfree > 0)
		s = m->free_sessions[--m->nfree];
	pthread_mutex_unlock(&m->session_lock);
	if (!s && (st = stp_session_create(m->model, &s)) != STP_OK)
		return st;
	st = stp_session_set_engine(s, engine);
	if (st != STP_OK) {
		stp_session_destroy(s);
		return st;
	}
	*out = s;
	return STP_OK;
}

void served_model_put_session(struct served_model *m, stp_session *s)
{
	pthread_mutex_lock(&m->session_lock);
	if (m->nfree == m->free_cap) {
		int cap = m->free_cap ? m->free_cap * 2 : 4;
		stp_session **p = realloc(m->free_sessions, (size_t)cap * sizeof(*p));

		if (p) {
			m->free_sessions = p;
			m->free_cap = cap;
		}
	}
	if (m->nfree < m->free_cap) {
		m->free_sessions[m->nfree++] = s;
		s = NULL;
	}
	pthread_mutex_unlock(&m->session_lock);
	stp_session_destroy(s);
}

/* ---- introspection ----------------------------------------------------- */

int repo_default_ready(struct repo *repo)
{
	struct repo_entry *e;
	int ready;

	pthread_mutex_lock(&repo->lock);
	e = find_entry(repo, repo->default_name);
	ready = e && e->current;
	pthread_mutex_unlock(&repo->lock);
	return ready;
}

const char *repo_default_name(struct repo *repo)
{
	return repo->default_name;
}

json_t *repo_index(struct repo *repo)
{
	json_t *arr = json_array();

	pthread_mutex_lock(&repo->lock);
	for (int i = 0; arr && i < repo->nentries; i++) {
		const struct repo_entry *e = &repo->entries[i];
		json_t *o = json_pack("{s:s, s:s, s:s}", "name", e->name, "state",
				      model_state_name(e->state), "reason", e->reason);

		if (o && e->current)
			json_object_set_new(o, "version", json_sprintf("%d", e->current->version));
		json_array_append_new(arr, o);
	}
	pthread_mutex_unlock(&repo->lock);
	return arr;
}

enum repo_status repo_state(struct repo *repo, const char *name, enum model_state *state,
			    char *reason, size_t reasonlen)
{
	struct repo_entry *e;

	pthread_mutex_lock(&repo->lock);
	e = find_entry(repo, name);
	if (e) {
		*state = e->state;
		snprintf(reason, reasonlen, "%s", e->reason);
	}
	pthread_mutex_unlock(&repo->lock);
	return e ? REPO_OK : REPO_NOT_FOUND;
}

void repo_count_states(struct repo *repo, int counts[4])
{
	memset(counts, 0, 4 * sizeof(int));
	pthread_mutex_lock(&repo->lock);
	for (int i = 0; i < repo->nentries; i++)
		counts[repo->entries[i].state]++;
	pthread_mutex_unlock(&repo->lock);
}
