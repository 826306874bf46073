/*
 * default-model.c - which model file a command uses when none is named.
 *
 * In order: $STIPPLE_MODEL (a file); the default model of the repository
 * $STIPPLE_MODELS; of the installed repository (pkgdatadir/models); of the
 * source tree's models/ (so a build tree works before `make install`). In a
 * repository (MODELS/name/version/model.stp, as stippled reads it) the
 * default model is the command's (cli.h) at its highest numeric version.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

#ifndef STIPPLE_MODEL_DIR
#define STIPPLE_MODEL_DIR "models"
#endif
#ifndef STIPPLE_SOURCE_MODEL_DIR
#define STIPPLE_SOURCE_MODEL_DIR "models"
#endif

/* The highest numeric version folder of repo/name holding model.stp. */
static int find_in_repository(const char *repo, const char *name, char *out, size_t n)
{
	char dir[4096];
	struct dirent *e;
	DIR *d;
	long best = -1;

	snprintf(dir, sizeof(dir), "%s/%s", repo, name);
	if (!(d = opendir(dir)))
		return 0;
	while ((e = readdir(d))) {
		char *end, file[4200];
		long v = strtol(e->d_name, &end, 10);
		struct stat st;

		if (end == e->d_name || *end || v < 0 || v <= best)
			continue;
		if (snprintf(file, sizeof(file), "%s/%s/model.stp", dir, e->d_name) >=
		    (int)sizeof(file))
			continue;
		if (stat(file, &st) == 0 && S_ISREG(st.st_mode) &&
		    snprintf(out, n, "%s", file) < (int)n)
			best = v;
	}
	closedir(d);
	return best >= 0;
}

const char *cli_default_model(const char *name, char *buf, size_t n)
{
	const char *env = getenv("STIPPLE_MODEL");
	const char *repos[3] = {getenv("STIPPLE_MODELS"), STIPPLE_MODEL_DIR,
				STIPPLE_SOURCE_MODEL_DIR};

	if (env && *env) {
		snprintf(buf, n, "%s", env);
		return buf;
	}
	for (int i = 0; i < 3; i++)
		if (repos[i] && *repos[i] && find_in_repository(repos[i], name, buf, n))
			return buf;
	return NULL;
}
